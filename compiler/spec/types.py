"""Value types of the language: names, quantities, durations, cron, semantic versions, URIs.

Each is a str checked by a validator that raises a PydanticCustomError whose type names the
diagnostic code (see ERROR_CODES), so one mapping turns pydantic's errors into diagnostics.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from compiler.diagnostics import quote

DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_QUANTITY = re.compile(
    r"(?P<num>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?[0-9]+)?\Z"
)
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w)")
_DURATION = re.compile(r"(?:[0-9]+(?:ms|s|m|h|d|w))+\Z")
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?\Z"
)
_LABEL_KEY = re.compile(
    r"(?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?\Z"
)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

_SUFFIX = {
    None: Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


# --- single-line values -------------------------------------------------------------------

# C0 and C1 control characters (line breaks and tabs among them), DEL, the Unicode line
# and paragraph separators, and U+FFFE/U+FFFF (which YAML cannot hold: kubectl kustomize
# refuses a manifest with one, even escaped): none belongs in a name, version, image, URI
# or region, and each would break a line-oriented file (YAML comments, HCL, PromQL).
_NOT_IN_A_LINE = r"\x00-\x1f\x7f-\x9f\u2028\u2029\ufffe\uffff"
CONTROL_CHARACTER = re.compile(f"[{_NOT_IN_A_LINE}]")
# The same as a pattern constraint: pydantic checks it in Rust, with no Python call per
# value, and the JSON Schemas carry it to editors. schema.py words its errors (line_error).
LINE_PATTERN = f"^[^{_NOT_IN_A_LINE}]*$"
_CONTROL_NAMES = {
    "\n": "a line break",
    "\r": "a carriage return",
    "\t": "a tab",
    "\x85": "a next-line character (U+0085)",
    "\u2028": "a line separator (U+2028)",
    "\u2029": "a paragraph separator (U+2029)",
    "\ufffe": "the noncharacter U+FFFE",
    "\uffff": "the noncharacter U+FFFF",
}


def line_error(value: str) -> PydanticCustomError | None:
    """MK221 when value is not a single line of text, else None."""
    match = CONTROL_CHARACTER.search(value)
    if match is None:
        return None
    char = match.group()
    what = _CONTROL_NAMES.get(char) or f"control character U+{ord(char):04X}"
    return PydanticCustomError(
        "MK221",
        "{value} holds {what} at character {index}; this value must be a single line",
        {
            "value": quote(value),
            "what": what,
            "index": match.start() + 1,
            "hint": "remove it; only free text (description, command, args, env) may span lines",
        },
    )


def check_line(value: str) -> str:
    error = line_error(value)
    if error is not None:
        raise error
    return value


# A single line of text. LineChecked is the same check for a field with a pattern of its own.
Line = Annotated[str, StringConstraints(pattern=LINE_PATTERN)]
LineChecked = Annotated[str, AfterValidator(check_line)]


# --- names ------------------------------------------------------------------------------


def check_name(value: str) -> str:
    if len(value) > 63 or not DNS1123_LABEL.match(value):
        raise PydanticCustomError(
            "MK205",
            "{value} is not a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters",
            {"value": quote(value)},
        )
    return value


Name = Annotated[str, AfterValidator(check_name)]


def check_label_key(value: str) -> str:
    if len(value) > 253 or not _LABEL_KEY.match(value):
        raise PydanticCustomError(
            "MK205", "{value} is not a valid Kubernetes label key", {"value": quote(value)}
        )
    return value


LabelKey = Annotated[str, AfterValidator(check_label_key)]


def check_env_name(value: str) -> str:
    if not _ENV_NAME.match(value):
        raise PydanticCustomError(
            "MK204",
            "{value} is not a valid environment variable name",
            {"value": quote(value)},
        )
    return value


EnvVarName = Annotated[str, AfterValidator(check_env_name)]


# --- quantities ---------------------------------------------------------------------------


def parse_quantity(value: str) -> Decimal:
    """The numeric value of a Kubernetes quantity ('500m' -> 0.5, '16Gi' -> 17179869184)."""
    match = _QUANTITY.match(value)
    if not match:
        raise ValueError(value)
    suffix = match.group("suffix")
    number = Decimal(match.group("num"))
    if suffix and suffix[0] in "eE":
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _SUFFIX[suffix]


def _number_to_str(value: Any) -> Any:
    # YAML users write `cpu: 4` as often as `cpu: "4"`; Kubernetes accepts both.
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return value  # refused as it is (MK220), not as the string 'nan'
    if isinstance(value, int | float):
        return format(value, "g") if isinstance(value, float) else str(value)
    return value


def check_quantity(value: str) -> str:
    try:
        amount = parse_quantity(value)
    except (ValueError, InvalidOperation):
        raise PydanticCustomError(
            "MK206",
            '{value} is not a Kubernetes quantity such as "4", "500m" or "16Gi"',
            {"value": quote(value)},
        ) from None
    if amount <= 0:
        raise PydanticCustomError("MK206", "{value} must be positive", {"value": quote(value)})
    return value


Quantity = Annotated[
    str,
    BeforeValidator(_number_to_str),
    AfterValidator(check_quantity),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": _QUANTITY.pattern.removesuffix(r"\Z") + "$"},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "description": 'Kubernetes quantity, e.g. "4", "500m", "16Gi".',
        }
    ),
]


# --- durations ----------------------------------------------------------------------------


def duration_seconds(value: str) -> float:
    return sum(int(n) * _DURATION_SECONDS[u] for n, u in _DURATION_PART.findall(value))


def check_duration(value: str) -> str:
    if not _DURATION.match(value) or duration_seconds(value) <= 0:
        raise PydanticCustomError(
            "MK207",
            "{value} is not a duration such as 30s, 15m, 12h, 7d or 1h30m",
            {"value": quote(value)},
        )
    return value


Duration = Annotated[
    str,
    AfterValidator(check_duration),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([0-9]+(ms|s|m|h|d|w))+$",
            "description": "Duration: 30s, 15m, 12h, 7d, 1h30m.",
        }
    ),
]


# --- cron -----------------------------------------------------------------------------------

# (label, lowest, highest, names) of the five fields; the serving target reads them too
CRON_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    (
        "month",
        1,
        12,
        {
            m: i + 1
            for i, m in enumerate(
                ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
            )
        },
    ),
    (
        "day of week",
        0,
        7,
        {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
    ),
)
# The macros cron accepts, and the five fields each stands for (the one table: the
# validator, the Kubeflow recurring run and the alert rules all read it).
CRON_MACROS: dict[str, str] = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cron_fields(expr: str) -> str:
    """expr as five cron fields: a macro is expanded, anything else returned stripped."""
    stripped = expr.strip()
    return CRON_MACROS.get(stripped, stripped)


def cron_problem(expr: str) -> str | None:
    """Why expr is not a five-field cron expression, or None when it is one."""
    if expr.strip() in CRON_MACROS:
        return None
    fields = expr.split()
    if len(fields) != 5:
        return (
            f"has {len(fields)} fields; cron needs 5 (minute hour day-of-month month day-of-week)"
        )
    for text, (label, low, high, names) in zip(fields, CRON_FIELDS, strict=True):
        for part in text.split(","):
            base, _, step = part.partition("/")
            if step and (not step.isdigit() or int(step) == 0):
                return f"{label} field {quote(text)}: step {quote(step)} must be a positive number"
            if base == "*":
                continue
            bounds = base.split("-")
            if len(bounds) > 2:
                return f"{label} field {quote(text)}: {quote(base)} is not a value or a range"
            values = []
            for b in bounds:
                v = names.get(b.lower()) if b.lower() in names else None
                if v is None:
                    if not b.isdigit():
                        return f"{label} field {quote(text)}: {quote(b)} is not a number"
                    v = int(b)
                if not low <= v <= high:
                    return f"{label} field {quote(text)}: {v} is outside {low}-{high}"
                values.append(v)
            if len(values) == 2 and values[0] > values[1]:
                return f"{label} field {quote(text)}: range {base} runs backwards"
    return None


def check_cron(value: str) -> str:
    problem = cron_problem(value)
    if problem:
        raise PydanticCustomError(
            "MK208",
            "{value} is not a cron expression: {problem}",
            {"value": quote(value), "problem": problem},
        )
    return value


Cron = Annotated[
    str,
    AfterValidator(check_cron),
    WithJsonSchema({"type": "string", "description": "Five-field cron, e.g. '0 3 * * 1'."}),
]


# --- versions and URIs --------------------------------------------------------------------


def check_semver(value: str) -> str:
    if not SEMVER.match(value):
        raise PydanticCustomError(
            "MK209", "{value} is not a semantic version such as 1.4.0", {"value": quote(value)}
        )
    return value


def semver_key(value: str) -> tuple[int, int, int, int, tuple[tuple[int, int | str], ...]]:
    """Ordering key per semver.org: a pre-release sorts before its release."""
    match = SEMVER.match(value)
    if not match:
        raise ValueError(value)
    major, minor, patch, pre = match.group(1), match.group(2), match.group(3), match.group(4)
    pre_key = tuple((0, int(p)) if p.isdigit() else (1, p) for p in pre.split(".")) if pre else ()
    return int(major), int(minor), int(patch), 0 if pre else 1, pre_key


SemVer = Annotated[
    str,
    AfterValidator(check_semver),
    WithJsonSchema({"type": "string", "pattern": SEMVER.pattern.removesuffix(r"\Z").join("^$")}),
]


def uri_checker(schemes: tuple[str, ...]) -> AfterValidator:
    def check(value: str) -> str:
        check_line(value)
        if not value.startswith(schemes) or value in schemes:
            raise PydanticCustomError(
                "MK211",
                "{value} must start with one of {schemes}",
                {"value": quote(value), "schemes": ", ".join(schemes)},
            )
        return value

    return AfterValidator(check)


DATA_SCHEMES = ("gs://", "s3://", "az://", "abfss://", "bq://", "https://")

DataUri = Annotated[str, uri_checker(DATA_SCHEMES)]


# --- cloud regions ----------------------------------------------------------------------------

# The form of each provider's region names (not a list of them: new regions keep coming):
# (pattern, what it is, examples).
REGION_FORMS: dict[str, tuple[re.Pattern[str], str, str]] = {
    "gcp": (
        re.compile(r"[a-z]+-[a-z]+[0-9]{1,2}(?:-[a-z])?\Z"),
        "a GCP region or zone",
        "GCP regions look like us-central1 or europe-west4, zones like us-central1-a",
    ),
    "aws": (
        re.compile(r"[a-z]{2,4}(?:-[a-z]+){1,2}-[0-9]{1,2}\Z"),
        "an AWS region",
        "AWS regions look like us-east-1, eu-central-1 or us-gov-west-1",
    ),
    "azure": (
        re.compile(r"[a-z][a-z0-9]{1,39}\Z"),
        "an Azure region name",
        "Azure region names are lower case without spaces, like westeurope or eastus2",
    ),
}


def check_region(provider: str, value: str) -> str:
    form = REGION_FORMS.get(provider)
    if form is not None and not form[0].match(value):
        _, what, examples = form
        # a region copied from another cloud's environment is the likely mistake
        other = next((w for f, w, _ in REGION_FORMS.values() if f.match(value)), None)
        hint = examples + (f"; this is the form of {other}" if other else "")
        raise PydanticCustomError(
            "MK222",
            "{value} is not {what}",
            {"value": quote(value), "what": what, "hint": hint},
        )
    return value
