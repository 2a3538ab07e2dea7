"""The loader: positions, core-schema scalars, and hostile input refused cleanly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from compiler.diagnostics import format_text
from compiler.load import MAX_FILE_BYTES, decode, load, parse_text
from compiler.sourcetext import split_lines
from compiler.validate import validate


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


# --- line numbers follow YAML's own line breaks (LF, CRLF, CR), nothing else

NOT_BREAKS = ["\u2028", "\u2029", "\x85"]  # Python's splitlines() and libyaml count them


def test_split_lines_breaks_only_where_yaml_does() -> None:
    text = "a\u2028b\x0cc\x1cd\r\ne\rf\ng\n"
    assert split_lines(text) == ["a\u2028b\x0cc\x1cd", "e", "f", "g"]
    assert split_lines("") == [] and split_lines("a") == ["a"] and split_lines("\n") == [""]


@pytest.mark.parametrize("positions", [True, False])
@pytest.mark.parametrize("separator", NOT_BREAKS)
def test_a_separator_in_a_string_does_not_shift_later_lines(
    separator: str, positions: bool
) -> None:
    text = f'a: "x{separator}y"\nb: 1\nc: {{d: 2}}\nb: 3\n'
    (doc,), diags = parse_text("f.yaml", text, positions=positions)
    assert doc.pos(("c", "d")) == (3, 8)
    assert [(d.code, d.line, d.column) for d in diags] == [("MK105", 4, 1)]
    assert "first defined at line 2" in diags[0].message


@pytest.mark.parametrize("separator", NOT_BREAKS)
def test_a_syntax_error_after_a_separator_is_on_its_line(separator: str) -> None:
    _, diags = parse_text("f.yaml", f"a: 'x{separator}y'\nb: [1,\nc: 3\n")
    (diag,) = diags
    assert diag.code == "MK103" and diag.line == 4


def test_a_forbidden_control_character_is_located() -> None:
    _, diags = parse_text("f.yaml", "a: 'é😀'\r\nb: 1\x0c\n")
    assert [(d.code, d.line, d.column) for d in diags] == [("MK103", 2, 5)]
    assert "U+000C" in diags[0].message and "<unicode string>" not in diags[0].message


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_the_excerpt_shows_the_line_the_diagnostic_names(tmp_path: Path, newline: str) -> None:
    lines = [
        "apiVersion: modelkiln.dev/v1alpha1",
        "kind: GpuPool",
        "metadata:",
        "  name: l4",
        '  description: "one\u2028two\u2029three\x85four"',
        "spec:",
        "  accelerator: nvidia-l4",
        '  gpusPerNode: "1"',
        "  maxNodes: 2",
    ]
    (tmp_path / "modelkiln.yaml").write_text("apiVersion: modelkiln.dev/v1alpha1\n")
    (tmp_path / "pool.yaml").write_bytes(newline.join(lines).encode() + newline.encode())
    sources = load(tmp_path)
    assert sources.texts["pool.yaml"] == lines
    (diag,) = [d for d in validate(sources).diagnostics if d.code == "MK203"]
    assert (diag.code, diag.line, diag.column) == ("MK203", 8, 16)
    report = format_text([diag], sources.texts)
    assert '    8 |   gpusPerNode: "1"\n' in report


def test_not_utf8_position_counts_yaml_line_breaks() -> None:
    _, diag = decode("b.yaml", b"a: 1\rb: 2\r\nc: \xc3\xa9\xe9\n")
    assert diag is not None and (diag.line, diag.column) == (3, 5)
