"""The LLM renderings (docs/llm.md "## Rendering", "## Autoscaling") judged by what their
consumers do: the strict CRD schemas, KServe's runtime merge and Hugging Face server
(v0.20.0), the LLMInferenceService controller's preset merge (master aaac4e294dae), the
ScaledObjects KServe creates and the HPA arithmetic KEDA drives (tests/kserve_consumer.py,
tests/kserve_llmisvc_consumer.py). Each check has a mutation below that makes it fail."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from typing import Any

import jsonschema
import pytest

from compiler.deployment import DeploymentPlan
from compiler.plan import EnvironmentPlan, ModelPlan
from compiler.targets.serving.inferenceservice import inference_service
from compiler.targets.serving.llmisvc import llm_inference_service
from compiler.targets.serving.vllm import engine_args
from tests.conftest import UPSTREAM
from tests.kfp_helpers import files_of, plan_of, yaml_docs
from tests.kserve_consumer import (
    admission_problems,
    merged_container,
    runtime_for,
    webhook_problems,
)
from tests.kserve_llmisvc_consumer import (
    cel_problems,
    deployment,
    desired_replicas,
    isvc_scaled_object,
    llmisvc_scaled_object,
    main_container,
    vllm_flags,
)

ISVC = UPSTREAM / "kserve" / "inferenceservice.v1beta1.strict.schema.json"
LLMISVC = UPSTREAM / "kserve" / "llminferenceservice.v1alpha2.strict.schema.json"
SCALED_OBJECT = UPSTREAM / "keda" / "scaledobject.v1alpha1.strict.schema.json"

# vLLM's engine flags modelkiln writes, with their choices where vLLM restricts them
# (vllm-project/vllm vllm/engine/arg_utils.py EngineArgs.add_cli_args, read at 001999d2;
# quantization choices: QUANTIZATION_METHODS, of which fp8 is one)
VLLM_FLAGS: dict[str, tuple[str, ...] | None] = {
    "--tensor-parallel-size": None,
    "--max-model-len": None,
    "--gpu-memory-utilization": None,
    "--max-num-seqs": None,
    "--dtype": ("auto", "half", "float16", "bfloat16", "float", "float32"),
    "--kv-cache-dtype": ("auto", "fp8", "fp8_e5m2", "fp8_e4m3"),
    "--quantization": ("fp8",),
    "--served-model-name": None,  # the preset's (LLMInferenceService)
}
# the Hugging Face server's own (huggingfaceserver/__main__.py; Backend enum in __init__.py)
HF_FLAGS: dict[str, tuple[str, ...] | None] = {
    "--model_name": None,
    "--backend": ("auto", "huggingface", "vllm"),
}


def _errors(schema_path: Any, doc: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(json.loads(schema_path.read_text()))
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]


def _rendered(kind: str) -> list[dict[str, Any]]:
    name = {"InferenceService": "/inferenceservice.yaml", "LLM": "/llminferenceservice.yaml"}
    return [yaml_docs(d)[0] for p, d in sorted(files_of("llm").items()) if p.endswith(name[kind])]


def _flag_problems(flags: list[str], known: dict[str, tuple[str, ...] | None]) -> list[str]:
    out = []
    seen: set[str] = set()
    for flag in flags:
        if flag == "--model_name={{.Name}}":  # the runtime's own
            continue
        name, _, value = flag.partition("=")
        if name not in known:
            out.append(f"{name} is not a flag the server or vLLM takes")
        elif known[name] is not None and value not in (known[name] or ()):
            out.append(f"{flag}: not one of {known[name]}")
        if name in seen:
            out.append(f"{name} given twice")
        seen.add(name)
    return out


def _hardening_problems(container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    sc = container.get("securityContext", {})
    out = [
        f"{k} is not {v}"
        for k, v in (
            # GPU containers keep a writable root (hardening.read_only_root, kserve#5711)
            ("readOnlyRootFilesystem", False),
            ("allowPrivilegeEscalation", False),
            ("runAsNonRoot", True),
        )
        if sc.get(k) is not v
    ]
    if sc.get("capabilities", {}).get("drop") != ["ALL"]:
        out.append("capabilities not dropped")
    if pod.get("automountServiceAccountToken") is not False:
        out.append("service account token mounted")
    if pod.get("securityContext", {}).get("seccompProfile", {}).get("type") != "RuntimeDefault":
        out.append("no RuntimeDefault seccomp profile")
    return out


def _llm_model(env_name: str, model_name: str) -> tuple[EnvironmentPlan, ModelPlan]:
    plan = plan_of("llm")
    env = next(e for e in plan.environments if e.name == env_name)
    return env, next(m for m in env.models if m.name == model_name)


def _with_deployment(model: ModelPlan, deployment_plan: DeploymentPlan) -> ModelPlan:
    assert model.serving is not None
    return replace(model, serving=replace(model.serving, deployment=deployment_plan))


# --- strict schemas ----------------------------------------------------------------------


def test_both_apis_are_rendered_and_pass_their_strict_schemas() -> None:
    isvcs, llmisvcs = _rendered("InferenceService"), _rendered("LLM")
    assert len(isvcs) == 3 and len(llmisvcs) == 3  # staging and prod, three models each
    problems = [p for d in isvcs for p in _errors(ISVC, d)]
    problems += [p for d in llmisvcs for p in _errors(LLMISVC, d) + cel_problems(d)]
    assert problems == []


def test_the_schemas_catch_a_field_the_crd_does_not_have() -> None:
    llmisvc = copy.deepcopy(_rendered("LLM")[0])
    llmisvc["spec"]["template"]["containers"][0]["vllmArgs"] = ["--x"]
    assert _errors(LLMISVC, llmisvc)
    isvc = copy.deepcopy(_rendered("InferenceService")[0])
    isvc["spec"]["predictor"]["model"]["engineArgs"] = []
    assert _errors(ISVC, isvc)


# --- InferenceService on the Hugging Face runtime ----------------------------------------


@pytest.mark.parametrize("index", [0, 1])
def test_the_runtime_merge_gives_the_server_its_flags_then_vllm_s(index: int) -> None:
    isvc = _rendered("InferenceService")[index]
    model = isvc["spec"]["predictor"]["model"]
    runtime = runtime_for(model)
    assert runtime["metadata"]["name"] == "kserve-huggingfaceserver"
    assert "workerSpec" not in runtime["spec"]  # one node per replica, no Ray
    container = merged_container(model)
    # KServe appends the predictor's args to the runtime's (MergeRuntimeContainers)
    assert container["args"][:2] == ["--model_name={{.Name}}", "--backend=vllm"]
    assert _flag_problems(container["args"], HF_FLAGS | VLLM_FLAGS) == []
    # NCCL's shared memory for tensor parallelism: the runtime's /dev/shm (memory emptyDir)
    assert {"name": "devshm", "mountPath": "/dev/shm"} in container["volumeMounts"]
    assert {"name": "devshm", "emptyDir": {"medium": "Memory"}} in runtime["spec"]["volumes"]
    assert admission_problems(container) == []
    assert _hardening_problems(container, isvc["spec"]["predictor"]) == []
    assert webhook_problems(isvc) == []


def test_flag_check_catches_a_wrong_flag_or_a_repeat() -> None:
    assert _flag_problems(["--max_num_seqs=8"], VLLM_FLAGS)
    assert _flag_problems(["--dtype=bf16"], VLLM_FLAGS)
    assert _flag_problems(["--max-model-len=1", "--max-model-len=2"], VLLM_FLAGS)
    assert _flag_problems(["--backend=tgi"], HF_FLAGS)


def test_the_flags_carry_the_spec() -> None:
    _, model = _llm_model("staging", "chat-70b")
    assert model.serving is not None and model.serving.llm is not None
    llm = model.serving.llm
    flags = dict(f.split("=", 1) for f in engine_args(llm))
    assert flags == {
        "--tensor-parallel-size": "4",
        "--max-model-len": "8192",
        "--gpu-memory-utilization": "0.9",
        "--max-num-seqs": "48",
        "--dtype": "bfloat16",
    }


@pytest.mark.parametrize(
    ("dtype", "kv", "want"),
    [
        ("fp16", "auto", ["--dtype=float16"]),
        ("bf16", "fp8", ["--dtype=bfloat16", "--kv-cache-dtype=fp8"]),
        ("fp8", "auto", ["--quantization=fp8"]),
        # pre-quantised checkpoints: vLLM reads quantization_config from config.json
        ("int8", "auto", []),
        ("int4", "fp8", ["--kv-cache-dtype=fp8"]),
    ],
)
def test_dtype_and_kv_cache_flags(dtype: str, kv: str, want: list[str]) -> None:
    _, model = _llm_model("staging", "chat-8b")
    assert model.serving is not None and model.serving.llm is not None
    llm = replace(model.serving.llm, dtype=dtype, kv_cache_dtype=kv)
    args = engine_args(llm)
    assert [a for a in args if a.startswith(("--dtype", "--quantization", "--kv-cache"))] == want
    assert _flag_problems(args, VLLM_FLAGS) == []


def test_hf_sources_are_what_the_storage_initializer_downloads() -> None:
    """kserve v0.20.0 python/storage/kserve_storage/kserve_storage.py _download_hf: hf://
    then exactly owner/model, an optional :revision; config/storagecontainers/default.yaml
    serves the hf:// prefix, so storageUri works and the server loads /mnt/models."""
    uris = [d["spec"]["predictor"]["model"]["storageUri"] for d in _rendered("InferenceService")]
    uris += [d["spec"]["model"]["uri"] for d in _rendered("LLM")]
    hf = [u for u in uris if u.startswith("hf://")]
    assert hf
    for uri in hf:
        owner_model = uri[len("hf://") :].split("/")
        assert len(owner_model) == 2 and all(owner_model), uri
        _, _, revision = owner_model[1].partition(":")
        assert re.fullmatch(r"[0-9a-f]{40}", revision), f"{uri}: not pinned to a commit"


# --- LLMInferenceService and the controller's preset merge -------------------------------


@pytest.mark.parametrize("index", [0, 1])
def test_the_preset_merge_keeps_our_container_flags_and_hardening(index: int) -> None:
    llmisvc = _rendered("LLM")[index]
    main = main_container(llmisvc)
    flags = vllm_flags(llmisvc)
    assert flags[0] == f"--served-model-name={llmisvc['spec']['model']['name']}"
    assert _flag_problems(flags, VLLM_FLAGS) == []
    assert any(f.startswith("--tensor-parallel-size=") for f in flags)
    assert main["image"].startswith("ghcr.io/llm-d/")  # the preset's vLLM image
    assert "/dev/shm" in {m["mountPath"] for m in main["volumeMounts"]}
    assert admission_problems(main) == []
    # a GPU, or a MIG slice on EKS (assist-1b: compiler/sharing.py)
    assert {"nvidia.com/gpu", "nvidia.com/mig-1g.10gb"} & set(main["resources"]["limits"])
    pod = deployment(llmisvc)["spec"]["template"]["spec"]
    assert _hardening_problems(main, pod) == []
    assert pod["nodeSelector"] and pod["tolerations"]


def test_the_merge_checks_fail_on_a_broken_object() -> None:
    llmisvc = copy.deepcopy(_rendered("LLM")[0])
    container = llmisvc["spec"]["template"]["containers"][0]
    container["securityContext"]["allowPrivilegeEscalation"] = True  # ours wins the merge
    pod = deployment(llmisvc)["spec"]["template"]["spec"]
    assert _hardening_problems(main_container(llmisvc), pod)
    gpu = next(k for k in container["resources"]["limits"] if k.startswith("nvidia.com/"))
    container["resources"]["requests"][gpu] = 2  # ≠ the limit
    assert admission_problems(main_container(llmisvc))
    container["args"].append("--max-num-seqs=9")
    assert _flag_problems(vllm_flags(llmisvc), VLLM_FLAGS)
    llmisvc["spec"]["replicas"] = 1  # beside scaling
    assert cel_problems(llmisvc)


def test_kueue_labels_reach_the_pods() -> None:
    env, model = _llm_model("prod", "chat-70b")
    assert model.serving is not None
    queued = replace(model, serving=replace(model.serving, queue="llm", priority_class="high"))
    llmisvc = llm_inference_service(env, queued)
    labels = deployment(llmisvc)["spec"]["template"]["metadata"]["labels"]
    assert labels["kueue.x-k8s.io/queue-name"] == "llm"
    assert labels["kueue.x-k8s.io/priority-class"] == "high"
    assert "modelkiln.dev/model" not in labels  # only the kueue prefix is copied
    assert _errors(LLMISVC, llmisvc) == []


# --- autoscaling ----------------------------------------------------------------------------


def test_the_scaled_objects_kserve_creates_pass_keda_s_strict_schema() -> None:
    objects = [isvc_scaled_object(d) for d in _rendered("InferenceService")]
    objects += [llmisvc_scaled_object(d) for d in _rendered("LLM")]
    assert all(len(o["spec"]["triggers"]) == 2 for o in objects)
    assert [p for o in objects for p in _errors(SCALED_OBJECT, o)] == []
    broken = copy.deepcopy(objects[0])
    broken["spec"]["triggers"][0]["metadata"]["threshold"] = 5  # KEDA's metadata: strings
    assert _errors(SCALED_OBJECT, broken)


def test_each_trigger_scales_out_at_its_per_replica_target() -> None:
    llmisvc = next(d for d in _rendered("LLM") if d["metadata"]["name"] == "chat-70b")
    so = llmisvc_scaled_object(llmisvc)
    waiting, kv = (float(t["metadata"]["threshold"]) for t in so["spec"]["triggers"])
    low, high = so["spec"]["minReplicaCount"], so["spec"]["maxReplicaCount"]
    assert desired_replicas(so, [0, 0]) == low
    # three replicas' worth of queue, or of KV cache: three replicas
    assert desired_replicas(so, [3 * waiting, 0]) == max(low, 3)
    assert desired_replicas(so, [0, 3 * kv]) == max(low, 3)
    assert desired_replicas(so, [100 * waiting, 0]) == high
    # the queries sum over the main Deployment's pods only
    query = so["spec"]["triggers"][0]["metadata"]["query"]
    pods = re.search(r'pod=~"([^"]+)"', query)
    assert pods is not None
    assert re.fullmatch(pods.group(1), "chat-70b-kserve-7d9f8b6c4-x2x9q")
    assert not re.fullmatch(pods.group(1), "chat-70b-kserve-prefill-7d9f8b6c4-x2x9q")


def test_the_inference_service_s_triggers_scale_the_same_way() -> None:
    isvc = next(d for d in _rendered("InferenceService") if d["metadata"]["name"] == "chat-8b")
    so = isvc_scaled_object(isvc)
    waiting, kv = (float(t["metadata"]["threshold"]) for t in so["spec"]["triggers"])
    assert (waiting, kv) == (0.43, 0.57)  # docs/llm.md "## Autoscaling"
    assert desired_replicas(so, [2 * waiting, 0]) == 2
    assert desired_replicas(so, [0, 4 * kv]) == 4
    query = so["spec"]["triggers"][1]["metadata"]["query"]
    pods = re.search(r'pod=~"([^"]+)"', query)
    assert pods is not None and query.startswith("sum(vllm:kv_cache_usage_perc{")
    assert re.fullmatch(pods.group(1), "chat-8b-predictor-5f7c9d8b4-abcde")
    assert not re.fullmatch(pods.group(1), "chat-8b-canary-predictor-5f7c9d8b4-abcde")


def test_knative_mode_scales_on_concurrency_at_the_sequences_share() -> None:
    env, model = _llm_model("staging", "chat-8b")
    isvc = inference_service(env, _with_deployment(model, DeploymentPlan("knative", None)))
    predictor = isvc["spec"]["predictor"]
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("concurrency", 5)  # 8 × 0.7
    tu = "autoscaling.knative.dev/target-utilization-percentage"
    assert predictor["annotations"] == {tu: "100"}
    assert webhook_problems(isvc) == [] and _errors(ISVC, isvc) == []


def test_without_prometheus_the_replicas_are_fixed_at_the_slo_s_need() -> None:
    env, model = _llm_model("prod", "chat-70b")
    assert model.serving is not None
    fixed = _with_deployment(model, DeploymentPlan("standard", None))
    isvc = inference_service(env, fixed)
    predictor = isvc["spec"]["predictor"]
    assert isvc["metadata"]["annotations"]["serving.kserve.io/autoscalerClass"] == "none"
    assert predictor["minReplicas"] == predictor["maxReplicas"] == model.serving.replicas.max
    assert "autoScaling" not in predictor
    assert webhook_problems(isvc) == [] and _errors(ISVC, isvc) == []
    llmisvc = llm_inference_service(env, fixed)
    assert llmisvc["spec"]["replicas"] == model.serving.replicas.max
    assert "scaling" not in llmisvc["spec"]
    assert deployment(llmisvc)["spec"]["replicas"] == model.serving.replicas.max
    assert cel_problems(llmisvc) == [] and _errors(LLMISVC, llmisvc) == []


def test_a_preset_of_another_shape_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """If KServe's preset stopped passing the container's args to vllm serve (no `--`, no
    `$@`), the flags would not reach vLLM: the consumer says so instead of guessing."""
    import tests.kserve_llmisvc_consumer as consumer

    changed = copy.deepcopy(consumer.preset())
    changed["spec"]["template"]["containers"][0]["command"] = ["vllm", "serve", "/mnt/models"]
    monkeypatch.setattr(consumer, "preset", lambda: changed)
    with pytest.raises(AssertionError):
        vllm_flags(_rendered("LLM")[0])
