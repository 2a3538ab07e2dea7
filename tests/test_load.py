"""The loader: positions, core-schema scalars, and hostile input refused cleanly."""

from __future__ import annotations

import time
from pathlib import Path

from compiler.load import MAX_FILE_BYTES, decode, load, parse_text


def test_positions_of_keys_values_and_items() -> None:
    text = "apiVersion: x\nkind: Model\nspec:\n  data:\n    - source: a\n      version: b\n"
    docs, diags = parse_text("m.yaml", text)
    assert diags == []
    doc = docs[0]
    assert doc.keys[("spec", "data")] == (4, 3)
    assert doc.values[("spec", "data", 0)] == (5, 7)
    assert doc.keys[("spec", "data", 0, "version")] == (6, 7)
    assert doc.values[("spec", "data", 0, "version")] == (6, 16)
    # an absent child is reported at its parent's key
    assert doc.pos(("spec", "data", 0, "missing")) == (5, 7)


def test_core_schema_scalars() -> None:
    text = "a: yes\nb: no\nc: 2026-11-01\nd: 1.5\ne: 0x10\nf: ~\ng: true\nh: '3'\ni: 7\n"
    (doc,), _ = parse_text("f.yaml", text)
    assert doc.data == {
        "a": "yes",
        "b": "no",
        "c": "2026-11-01",
        "d": 1.5,
        "e": 16,
        "f": None,
        "g": True,
        "h": "3",
        "i": 7,
    }


def test_multi_document_and_empty_documents() -> None:
    docs, diags = parse_text("f.yaml", "a: 1\n---\n---\nb: 2\n---\n")
    assert diags == [] and [d.data for d in docs] == [{"a": 1}, {"b": 2}]
    assert docs[1].values[()] == (4, 1)


def test_duplicate_key_points_at_second() -> None:
    _, diags = parse_text("f.yaml", "a: 1\nb: 2\na: 3\n")
    assert [(d.code, d.line, d.column) for d in diags] == [("MK105", 3, 1)]
    assert "line 1" in diags[0].message


def test_alias_bomb_fails_fast() -> None:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 10):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    text = "\n".join(lines) + "\n"
    start = time.perf_counter()
    docs, diags = parse_text("bomb.yaml", text)
    assert time.perf_counter() - start < 1.0
    assert docs == [] and [d.code for d in diags] == ["MK106"]


def test_deep_nesting_refused() -> None:
    text = "a: " + "[" * 500 + "]" * 500 + "\n"
    _, diags = parse_text("deep.yaml", text)
    assert [d.code for d in diags] == ["MK113"]


def test_tab_indentation() -> None:
    _, diags = parse_text("t.yaml", "spec:\n\tname: x\n")
    assert [(d.code, d.line) for d in diags] == [("MK104", 2)]
    assert diags[0].hint and "spaces" in diags[0].hint


def test_syntax_error_position() -> None:
    _, diags = parse_text("s.yaml", "a: [1, 2\nb: 3\n")
    assert diags[0].code == "MK103" and diags[0].line >= 2


def test_non_mapping_document() -> None:
    _, diags = parse_text("l.yaml", "- a\n- b\n")
    assert [(d.code, d.line, d.column) for d in diags] == [("MK107", 1, 1)]


def test_unsupported_tag() -> None:
    _, diags = parse_text("t.yaml", "a: !!python/object:os.system echo\n")
    assert [d.code for d in diags] == ["MK112"]


def test_non_utf8_position() -> None:
    text, diag = decode("b.yaml", b"a: 1\nb: caf\xe9\n")
    assert text is None and diag is not None
    assert (diag.code, diag.line, diag.column) == ("MK102", 2, 7)


def test_size_limit_and_discovery(tmp_path: Path) -> None:
    (tmp_path / "modelkiln.yaml").write_text("apiVersion: modelkiln.dev/v1alpha1\n")
    (tmp_path / "big.yaml").write_bytes(b"a: " + b"x" * (MAX_FILE_BYTES + 1))
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "x.yaml").write_text("- not read\n")
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "out.yaml").write_text("- not read\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.yml").write_text("a: 1\n")
    sources = load(tmp_path)
    assert sources.files == ["modelkiln.yaml", "sub/b.yml"]
    assert [(d.file, d.code) for d in sources.diagnostics] == [("big.yaml", "MK101")]
