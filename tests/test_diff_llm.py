"""`modelkiln diff` on language models: whatever changed, the reviewer sees the GPU memory
one replica needs against what vLLM may use, and the cost per million output tokens at the
SLO's peak, base and head (docs/diff.md). Real git repositories, the examples/llm project."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import pytest

from compiler import catalog
from compiler.gitops.diff import diff
from tests.conftest import EXAMPLES
from tests.test_diff import edit, init_repo

GIB = 2**30
# meta-llama/Llama-3.1-70B-Instruct config.json: num_hidden_layers 80, num_key_value_heads 8,
# hidden_size 8192 / num_attention_heads 64 = head dim 128; bf16 K and V: 2 bytes each
KV_BYTES_PER_TOKEN_70B = 2 * 80 * 8 * 128 * 2


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    dest = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "llm", dest)
    init_repo(dest)
    return dest


def llm_report(repo: Path) -> dict[str, Any]:
    text, code = diff(repo, "HEAD", "json")
    assert code == 0, text
    document: dict[str, Any] = json.loads(text)
    llm: dict[str, Any] = document.get("llm", {})
    return llm


def test_more_sequences_spend_the_headroom_on_kv_cache(repo: Path) -> None:
    edit(repo / "models" / "chat-70b.yaml", "concurrentSequences: 48", "concurrentSequences: 56")
    report = llm_report(repo)
    assert sorted(report) == ["chat-70b"] and sorted(report["chat-70b"]) == ["prod", "staging"]
    for pair in report["chat-70b"].values():
        base, head = pair["base"]["gpu_memory_gib"], pair["head"]["gpu_memory_gib"]
        # 8 more sequences of 8192 tokens, every one at full length
        grown = 8 * 8192 * KV_BYTES_PER_TOKEN_70B / GIB
        assert grown == 20.0
        assert head["needed"] - base["needed"] == pytest.approx(grown, abs=0.11)
        assert base["headroom"] - head["headroom"] == pytest.approx(grown, abs=0.11)
        assert head["usable"] == base["usable"]
        assert pair["head"]["devices"] == 4 and pair["head"]["device"] == "nvidia-h100-80gb"
    text, _ = diff(repo, "HEAD", "text")
    assert "language models (GPU memory per replica; cost at the SLO's peak)" in text
    prod = report["chat-70b"]["prod"]
    old, new = prod["base"]["gpu_memory_gib"], prod["head"]["gpu_memory_gib"]
    assert (
        f"GPU memory: {old['needed']:.1f} -> {new['needed']:.1f} of {new['usable']:.1f} GiB"
        f" on 4 x nvidia-h100-80gb, headroom {old['headroom']:.1f} -> {new['headroom']:.1f} GiB"
    ) in text


def test_cost_per_million_tokens_follows_the_replicas_the_peak_needs(repo: Path) -> None:
    # a stricter TPOT objective met with a full batch: each replica delivers more tokens/s
    edit(repo / "models" / "chat-70b.yaml", "tpotP95Ms: 50", "tpotP95Ms: 25")
    prod = llm_report(repo)["chat-70b"]["prod"]
    price = catalog.offering("nvidia-h100-80gb", "aws")
    assert price is not None
    for side, tpot in (("base", 50), ("head", 25)):
        target = math.floor(48 * 1000 / tpot * 0.7)  # safe tokens/s of one replica
        replicas = math.ceil(2000 / target)  # 3, then 2
        hourly = price.usd_per_gpu_hour * 4 * replicas
        assert prod[side]["usd_per_million_tokens"] == round(hourly / (2000 * 3600) * 1e6, 2)
    assert prod["head"]["usd_per_million_tokens"] < prod["base"]["usd_per_million_tokens"]
    markdown, _ = diff(repo, "HEAD", "markdown")
    assert "### Language models" in markdown
    assert (
        f"${prod['base']['usd_per_million_tokens']:,.2f} per million output tokens at 2000 "
        f"tokens/s → ${prod['head']['usd_per_million_tokens']:,.2f} per million output tokens"
    ) in markdown


def test_an_added_language_model_shows_its_fit_without_a_base(repo: Path) -> None:
    source = (repo / "models" / "chat-8b.yaml").read_text()
    (repo / "models" / "chat-8b-canary.yaml").write_text(
        source.replace("name: chat-8b,", "name: chat-8b-canary,")
    )
    report = llm_report(repo)
    assert sorted(report) == ["chat-8b-canary"]
    for pair in report["chat-8b-canary"].values():
        assert pair["base"] is None
        assert pair["head"]["devices"] == 1 and pair["head"]["device"] == "nvidia-l4"
        assert pair["head"]["gpu_memory_gib"]["headroom"] > 0


def test_a_change_outside_language_models_has_no_llm_section(tmp_path: Path) -> None:
    dest = tmp_path / "repo"
    shutil.copytree(EXAMPLES / "multi-cloud", dest)
    init_repo(dest)
    edit(dest / "models" / "churn.yaml", "version: ", "version: 9")
    text, _ = diff(dest, "HEAD", "json")
    assert "llm" not in json.loads(text)
    assert "language models" not in diff(dest, "HEAD", "text")[0]
