"""Which errors are the user's (only the YAML parser's own), the pure Python parser when
the C one is missing, and position tables read at most once per file."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import compiler.parse
from compiler.cli import main
from compiler.load import load, parse_text
from compiler.validate import validate
from tests.conftest import EXAMPLES, REPO

BROKEN = EXAMPLES / "broken"


def _a_bug(*args: Any) -> Any:
    raise KeyError("a bug in the loader")


@pytest.fixture
def cli() -> Iterator[CliRunner]:
    yield CliRunner()
    gc.enable()  # main() turns the collector off for its short-lived process; not ours


def test_a_bug_in_the_loader_is_not_invalid_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compiler.parse, "scalar", _a_bug)
    with pytest.raises(KeyError, match="a bug in the loader"):
        parse_text("f.yaml", "a: 1\n")


def test_a_bug_in_the_loader_is_an_internal_error(
    monkeypatch: pytest.MonkeyPatch, cli: CliRunner
) -> None:
    monkeypatch.setattr(compiler.parse, "scalar", _a_bug)
    result = cli.invoke(main, ["validate", str(EXAMPLES / "quickstart")])
    assert result.exit_code == 3, result.output
    assert "internal error: KeyError" in result.stderr
    assert "Traceback" not in result.output and "MK103" not in result.output


def test_debug_shows_the_bug_with_its_traceback() -> None:
    driver = textwrap.dedent(
        """
        import sys
        import compiler.parse
        def a_bug(*args):
            raise KeyError("a bug in the loader")
        compiler.parse.scalar = a_bug
        from compiler.cli import main
        main(["--debug", "validate", sys.argv[1]])
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", driver, str(EXAMPLES / "quickstart")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 3
    assert "Traceback" in proc.stderr and "KeyError: 'a bug in the loader'" in proc.stderr


# --- the pure Python parser, when ruamel.yaml.clib is not installed

_DRIVER = textwrap.dedent(
    """
    import json, sys

    class NoCParser:
        def find_spec(self, name, path=None, target=None):
            if name == "_ruamel_yaml" or name.startswith("ruamel.yaml.clib"):
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)")
            return None

    if sys.argv[1] == "pure":
        sys.meta_path.insert(0, NoCParser())
    from click.testing import CliRunner
    from compiler.cli import main
    from compiler.parse import uses_c_parser

    answers = {}
    for case in sys.argv[2:]:
        result = CliRunner().invoke(main, ["validate", case, "--format", "json"])
        answers[case] = [result.exit_code, result.stdout, result.stderr]
    print(json.dumps({"c": uses_c_parser(), "c_loaded": "_ruamel_yaml" in sys.modules,
                      "answers": answers}))
    """
)


def _validate_all(parser: str, cases: list[Path]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _DRIVER, parser, *map(str, cases)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    answer: dict[str, Any] = json.loads(proc.stdout)
    return answer


def test_the_pure_parser_gives_the_same_diagnostics() -> None:
    cases = [EXAMPLES / "quickstart", EXAMPLES / "multi-cloud"]
    cases += sorted(p for p in BROKEN.iterdir() if p.is_dir())
    with_c, pure = _validate_all("c", cases), _validate_all("pure", cases)
    assert with_c["c"] and with_c["c_loaded"]
    assert not pure["c"] and not pure["c_loaded"]
    for case in map(str, cases):
        assert pure["answers"][case] == with_c["answers"][case], case
    quickstart = with_c["answers"][str(EXAMPLES / "quickstart")]
    assert quickstart[0] == 0 and json.loads(quickstart[1])["valid"] is True


# --- positions: read at most once per file, however many documents it has


def _many_invalid_documents(root: Path, count: int) -> None:
    (root / "modelkiln.yaml").write_text("apiVersion: modelkiln.dev/v1alpha1\n")
    document = (
        "apiVersion: modelkiln.dev/v1alpha1\nkind: GpuPool\nmetadata:\n  name: p{i}\n"
        "spec:\n  accelerator: nvidia-l4\n  gpusPerNode: 1\n  maxNodes: 2\n  bogus: 1\n"
    )
    (root / "pools.yaml").write_text("---\n".join(document.format(i=i) for i in range(count)))


def test_thousands_of_invalid_documents_in_one_file_are_fast(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 4000
    _many_invalid_documents(tmp_path, count)
    reads: list[int] = []
    real_events = compiler.parse._events

    def counted(text: str) -> Iterator[Any]:
        reads.append(len(text))
        return real_events(text)

    monkeypatch.setattr(compiler.parse, "_events", counted)
    start = time.perf_counter()
    result = validate(load(tmp_path))
    elapsed = time.perf_counter() - start
    unknown = [d for d in result.diagnostics if d.code == "MK201"]
    assert [d.line for d in unknown] == [10 * i + 9 for i in range(count)]
    pools_size = len((tmp_path / "pools.yaml").read_text())
    assert reads.count(pools_size) == 2  # once for data, once more for positions
    print(f"\n{count} invalid documents in one file: validated in {elapsed:.2f}s")
    assert elapsed < 10, f"{elapsed:.1f}s"


def test_a_large_file_with_a_syntax_error_is_refused_fast() -> None:
    document = "apiVersion: modelkiln.dev/v1alpha1\nkind: GpuPool\nmetadata:\n  name: p{i}\n"
    text = "---\n".join(document.format(i=i) for i in range(30_000)) + "x: [1,\n"
    assert len(text) > compiler.parse.PURE_REREAD_CHARS
    start = time.perf_counter()
    documents, diagnostics = parse_text("big.yaml", text, positions=False)
    elapsed = time.perf_counter() - start
    assert documents == [] and [(d.code, d.line) for d in diagnostics] == [("MK103", 150_001)]
    assert elapsed < 5, f"{elapsed:.1f}s: the slow pure parser read it again"
