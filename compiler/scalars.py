"""Plain YAML scalars as the YAML 1.2 core schema reads them: `yes`, `no` and dates stay
strings; only null, true/false, integers (decimal, 0o, 0x) and floats become other types."""

from __future__ import annotations

import re
from typing import Any

STR_TAG = "tag:yaml.org,2002:str"
CORE_TAGS = {
    STR_TAG,
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
    "!",
}
_NULL = {"", "~", "null", "Null", "NULL"}
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_INT = re.compile(r"[-+]?[0-9]+\Z")
_OCT = re.compile(r"0o[0-7]+\Z")
_HEX = re.compile(r"0x[0-9a-fA-F]+\Z")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_MAYBE_NOT_STR = set("0123456789+-.~nNtTfF")
_SPECIAL_FLOATS = {
    ".inf": float("inf"),
    ".Inf": float("inf"),
    ".INF": float("inf"),
    "+.inf": float("inf"),
    "-.inf": float("-inf"),
    "-.Inf": float("-inf"),
    "-.INF": float("-inf"),
    ".nan": float("nan"),
    ".NaN": float("nan"),
    ".NAN": float("nan"),
}


# Python refuses to read a decimal integer longer than this (sys.get_int_max_str_digits(),
# CVE-2020-10735); the loader says so at the scalar instead of crashing.
MAX_INT_DIGITS = 4300


class IntegerTooLong(ValueError):
    def __init__(self, digits: int) -> None:
        super().__init__(f"an integer of {digits:,} digits is too long to read")
        self.digits = digits


def scalar(value: str, style: Any, tag: str | None) -> Any:
    """The Python value of one scalar event (tag already expanded by full_tag)."""
    if style:  # quoted or block scalars are always strings
        return value
    if tag and tag != STR_TAG:  # an explicit core tag, e.g. !!int
        return _typed(value, tag)
    if value and value[0] not in _MAYBE_NOT_STR:
        return value  # the common case: a word, which only a string can start with
    if value in _NULL:
        return None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if _INT.match(value):
        if len(value.lstrip("+-")) > MAX_INT_DIGITS:
            raise IntegerTooLong(len(value.lstrip("+-")))
        return int(value)
    if _OCT.match(value):
        return int(value[2:], 8)
    if _HEX.match(value):
        return int(value[2:], 16)
    if _FLOAT.match(value):
        return float(value)
    if value in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[value]
    return value


def _typed(value: str, tag: str) -> Any:
    try:
        if tag.endswith(":int"):
            return int(value, 0)
        if tag.endswith(":float"):
            return float(value)
        if tag.endswith(":bool"):
            return value in _TRUE
        if tag.endswith(":null"):
            return None
    except ValueError:
        return value
    return value


def full_tag(event: Any) -> str | None:
    """The event's tag with the `!!` shorthand expanded, or None."""
    tag = getattr(event, "tag", None)
    if tag is None:
        return None
    text = str(tag)
    return STR_TAG.removesuffix("str") + text[2:] if text.startswith("!!") else text
