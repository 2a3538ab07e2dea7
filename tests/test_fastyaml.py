"""fastyaml writes exactly the data it is given, for YAML 1.1 and 1.2 readers alike."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from compiler.targets import fastyaml

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["yes", "No", "on", "null", "~", "2026-11-01", "1e3", "0x1F", "-", "a: b"])
)
documents = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), documents, max_size=5))
def test_round_trip(data: dict[str, Any]) -> None:
    text = fastyaml.dump(data)
    assert yaml.safe_load(text) == data  # YAML 1.1 (PyYAML, kubectl's lineage)
    assert YAML(typ="safe", pure=True).load(text) == data  # YAML 1.2


def test_readable_plain_strings() -> None:
    assert fastyaml.dump({"image": "ghcr.io/acme/train", "count": 3}) == (
        "count: 3\nimage: ghcr.io/acme/train\n"
    )
    assert fastyaml.dump({"s": 'say "hi"\n\x85é'}) == 's: "say \\"hi\\"\\n\\x85é"\n'
    assert fastyaml.dump({"v": "1.0", "b": "yes"}) == 'b: "yes"\nv: "1.0"\n'
