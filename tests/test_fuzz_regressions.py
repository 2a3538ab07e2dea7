"""What a mutation fuzzer found against 0.1, each on a copy of examples/quickstart with one
mutation, through the real console script: `validate` in every format and `compile` must
answer with a diagnostic at the mutated line (exit 1), never a crash (exit 3), and every
byte they print must be UTF-8."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import copy_example

EXE = str(Path(sys.executable).with_name("modelkiln"))
FORMATS = ("text", "json", "github", "sarif")
MODEL = "models/fraud-detector.yaml"
DATA = "data/transactions.yaml"
PROJECT = "modelkiln.yaml"


def run(*args: str | Path) -> tuple[int, str, str]:
    """Exit code, stdout and stderr, decoded strictly: a byte that is not UTF-8 fails."""
    proc = subprocess.run([EXE, *map(str, args)], capture_output=True, timeout=120)
    return proc.returncode, proc.stdout.decode("utf-8"), proc.stderr.decode("utf-8")


def mutate(repo: Path, file: str, old: str, new: str) -> int:
    """Replace old (once) in file; the 1-based line of the change."""
    path = repo / file
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))
    return text[: text.index(old)].count("\n") + 1


# (id, file, old, new, code, expected in the message)
Mutation = tuple[str, str, str, str, str, str]
MUTATIONS: list[Mutation] = [
    ("kind-list", MODEL, "kind: Model", "kind: []", "MK109", "kind must be a string, got a list"),
    # found by tests/test_fuzz.py's campaign against 0.2 (kfp carries numbers as doubles)
    ("huge-int-hyperparameter", MODEL, "lr: 0.001", "lr: 1" + "0" * 400, "MK210", "401 digits"),
    ("int-beyond-2-53", MODEL, "batchSize: 512", "batchSize: 9007199254740993", "MK210", "2^53"),
    (
        "throughput-1e308",
        MODEL,
        "throughputRps: 400",
        "throughputRps: 1e308",
        "MK210",
        "1000000000",
    ),
    ("capacity-denormal", MODEL, "capacityRps: 60", "capacityRps: 5e-324", "MK232", "target"),
    # an integer longer than Python reads (4,300 digits): the loader says so at the scalar
    ("int-4500-digits", MODEL, "lr: 0.001", "lr: " + "9" * 4500, "MK210", "4,500 digits"),
    ("kind-map", MODEL, "kind: Model", "kind: {a: 1}", "MK109", "got a mapping"),
    ("kind-number", MODEL, "kind: Model", "kind: 3", "MK109", "got number 3"),
    (
        "api-version-map",
        MODEL,
        "apiVersion: modelkiln.dev/v1alpha1",
        "apiVersion: {}",
        "MK108",
        "apiVersion must be a string, got a mapping",
    ),
    (
        "api-version-list",
        DATA,
        "apiVersion: modelkiln.dev/v1alpha1",
        "apiVersion: [x]",
        "MK108",
        "",
    ),
    (
        "surrogate-failing-schema",
        MODEL,
        "framework: pytorch",
        'framework: "py\\ud800"',
        "MK219",
        "'py\\ud800'",
    ),
    ("surrogate-passing-schema", MODEL, "owner: risk-ml", 'owner: "\\udfff"', "MK219", "\\udfff"),
    ("surrogate-in-key", MODEL, "lr: 0.001", '"lr\\ud800": 0.001', "MK219", "key 'lr\\ud800'"),
    (
        "surrogate-in-unknown-field",
        MODEL,
        "    retries: 2",
        '    "retries\\udc00": 2',
        "MK219",
        "key 'retries\\udc00'",
    ),
    (
        "surrogate-in-command",
        MODEL,
        "command: [torchrun, -m, fraud.train]",
        'command: [torchrun, -m, "fraud.train\\ud800"]',
        "MK219",
        "",
    ),
    (
        "surrogate-in-runtime",
        MODEL,
        "runtime: kserve-torchserve",
        'runtime: "kserve-\\ud800"',
        "MK219",
        "",
    ),
    ("nan-hyperparameter", MODEL, "lr: 0.001", "lr: .nan", "MK220", "lr: number nan"),
    ("inf-threshold", MODEL, "threshold: 0.2", "threshold: .inf", "MK220", "number inf"),
    (
        "huge-exponent-gate",
        MODEL,
        "{metric: auc, min: 0.92}",
        "{metric: auc, min: 1e999}",
        "MK220",
        "",
    ),
    (
        "newline-in-data-version",
        DATA,
        'version: "2026-11-01"',
        'version: "2026-11-01\\nkind: x"',
        "MK221",
        "'2026-11-01\\nkind: x' holds a line break",
    ),
    (
        "newline-in-image",
        MODEL,
        "image: ghcr.io/acme/fraud-train:3.2.0",
        'image: "ghcr.io/acme/fraud-train:3.2.0\\n"',
        "MK221",
        "",
    ),
    (
        "interpolation-in-region",
        PROJECT,
        "region: us-central1",
        'region: "us-${var.x}"',
        "MK222",
        "'us-${var.x}' is not a GCP region or zone",
    ),
]


def _diagnostics(output: str) -> list[dict[str, Any]]:
    payload = json.loads(output)
    assert payload["valid"] is False
    diagnostics: list[dict[str, Any]] = payload["diagnostics"]
    return diagnostics


@pytest.mark.parametrize(
    ("file", "old", "new", "code", "needle"),
    [m[1:] for m in MUTATIONS],
    ids=[m[0] for m in MUTATIONS],
)
def test_mutation_is_a_diagnostic_in_validate_and_compile(
    tmp_path: Path, file: str, old: str, new: str, code: str, needle: str
) -> None:
    repo = copy_example(tmp_path, "quickstart")
    line = mutate(repo, file, old, new)
    status, out, err = run("validate", repo, "--format", "json")
    assert (status, err) == (1, ""), out + err
    found = [d for d in _diagnostics(out) if d["code"] == code]
    assert [(d["file"], d["line"]) for d in found] == [(file, line)], out
    assert needle in found[0]["message"], found[0]["message"]
    status, out, err = run("compile", repo, "--out", tmp_path / "out")
    assert status == 1, out + err
    assert f"error[{code}]" in out and "Traceback" not in out + err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_prints_surrogates_and_control_characters(tmp_path: Path, fmt: str) -> None:
    """Strings that cannot be encoded or shown, in messages (values quoted by the schema
    errors and the rules), source lines and file names (a name that is not UTF-8 reaches
    Python as a lone surrogate), in every format."""
    repo = copy_example(tmp_path, "quickstart")
    mutate(repo, MODEL, "    retries: 2", '    "retries\\udc00\\x1b[2J": 2')
    mutate(repo, MODEL, 'cpu: "32"', 'cpu: "32\\ud800\\u0007"')
    mutate(repo, MODEL, "name: fraud-detector", 'name: "fraud\\x1b[31m\\u202e"')
    (repo / os.fsdecode(b"pools/bad\xff.yaml")).write_text("kind: GpuPool\x07\n")
    status, out, err = run("validate", repo, "--format", fmt)
    assert (status, err) == (1, ""), out + err
    assert "Traceback" not in out
    for text_line in out.splitlines():
        assert "\x1b" not in text_line and "\x07" not in text_line, text_line
    assert all(code in out for code in ("MK219", "MK205", "MK103"))
    assert "bad\\xff.yaml" in out.replace("\\\\", "\\")  # the file name: its byte, escaped
    if fmt in ("json", "sarif"):
        json.dumps(json.loads(out), ensure_ascii=False).encode("utf-8")


def test_a_huge_value_is_quoted_short(tmp_path: Path) -> None:
    """A 1.9 MB name: each message quotes at most ~100 characters of it."""
    repo = copy_example(tmp_path, "quickstart")
    second = repo / "models" / "second.yaml"
    second.write_text((repo / MODEL).read_text())
    mutate(repo, MODEL, "name: fraud-detector", "name: " + "X" * 1_900_000)
    mutate(repo, "models/second.yaml", "source: transactions", "source: " + "Y" * 1_900_000)
    for fmt in FORMATS:
        status, out, err = run("validate", repo, "--format", fmt)
        assert (status, err) == (1, ""), err
        assert len(out) < 10_000, (fmt, len(out))
        out = out.replace("\\u2026", "…")  # as json and sarif write it
        assert out.count("X" * 100 + "…' (1,900,000 characters)") == 1, out  # MK205
        assert out.count("Y" * 100 + "…' (1,900,000 characters)") == 1, out  # MK302


def test_a_line_break_in_a_string_hyperparameter_keeps_the_pipeline_yaml(tmp_path: Path) -> None:
    """Free text may span lines; the generated header comment of pipeline.yaml (kfp writes
    parameter defaults into it) must stay comment lines."""
    repo = copy_example(tmp_path, "quickstart")
    value = "a\\nkind: Pipeline\\r\\u2028#x\\x85y"
    mutate(repo, MODEL, "lr: 0.001", f'lr: "{value}"')
    status, out, err = run("compile", repo, "--out", tmp_path / "out")
    assert status == 0, out + err
    text = (tmp_path / "out/prod/models/fraud-detector/pipeline.yaml").read_text()
    header = text[: text.index("components:")]
    assert all(line.startswith("#") for line in header.splitlines()), header
    spec = next(yaml.safe_load_all(text))
    default = spec["root"]["inputDefinitions"]["parameters"]["lr"]["defaultValue"]
    assert default == "a\nkind: Pipeline\r\u2028#x\x85y"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_unusual_single_line_values_that_validate_pass_kubectl_kustomize(tmp_path: Path) -> None:
    """What validation lets through in a runtime or model format, kustomize takes: the
    surrogates and U+FFFE/U+FFFF it refuses are refused at validation (MK219, MK221)."""
    repo = copy_example(tmp_path, "quickstart")
    runtime = "kserve-\\u00a0\\ufeff\\U0010FFFF\\u200b-é"
    mutate(repo, MODEL, "runtime: kserve-torchserve", f'runtime: "{runtime}"')
    mutate(repo, MODEL, "format: pytorch", 'format: "py\\ufdd0torch"')
    status, out, err = run("compile", repo, "--out", tmp_path / "out")
    assert status == 0, out + err
    proc = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path / "out" / "prod")], capture_output=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr.decode()
    (service,) = [
        d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "InferenceService"
    ]
    model = service["spec"]["predictor"]["model"]
    assert model["runtime"] == "kserve-\u00a0\ufeff\U0010ffff\u200b-é"
    assert model["modelFormat"]["name"] == "py\ufdd0torch"
    for bad, code in (("\\ud800", "MK219"), ("\\ufffe", "MK221"), ("\\uffff", "MK221")):
        mutate(repo, MODEL, f'runtime: "{runtime}"', f'runtime: "{runtime}{bad}"')
        status, out, _ = run("validate", repo, "--format", "json")
        assert status == 1 and [d["code"] for d in _diagnostics(out)] == [code]
        mutate(repo, MODEL, f'runtime: "{runtime}{bad}"', f'runtime: "{runtime}"')
