"""The accelerator catalog: complete, well-formed, and read the way the docs say."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import get_args

from compiler import catalog
from compiler.spec.gpupool import Accelerator
from tests.conftest import REPO

CLOUDS = ("aws", "azure", "gcp")


def test_every_language_accelerator_in_every_cloud() -> None:
    data = catalog.raw()
    assert sorted(data["accelerators"]) == sorted(get_args(Accelerator))
    for entry in data["accelerators"].values():
        assert sorted(entry["clouds"]) == list(CLOUDS)
        assert entry["gpuMemoryGiB"] > 0


def test_usable_memory_is_below_the_sold_size_and_sourced() -> None:
    """What CUDA reports (and vLLM multiplies by gpu_memory_utilization) is less than the
    GPU's name says: 80 GB is 74.5 GiB of decimal gigabytes at the least, the label's GiB
    at the most (docs/catalog.md, "GPU memory")."""
    for name, entry in catalog.raw()["accelerators"].items():
        usable = catalog.usable_memory_gib(name)
        sold = entry["gpuMemoryGiB"]
        assert sold * 1e9 / 2**30 * 0.95 < usable <= sold, name
        assert "nvidia-smi" in entry["usableMemorySource"] or "vLLM" in entry["usableMemorySource"]
    assert catalog.usable_memory_gib("nvidia-l4") == 23034 / 1024
    assert catalog.usable_memory_gib("nvidia-h100-80gb") < 80


def test_offerings_are_complete_and_dated() -> None:
    for accelerator in catalog.accelerators():
        for cloud in CLOUDS:
            offer = catalog.offering(accelerator, cloud)
            if offer is None:
                assert catalog.not_offered_reason(accelerator, cloud)
                continue
            assert offer.machine_types and all(n > 0 for _, n in offer.machine_types)
            assert offer.usd_per_gpu_hour > 0
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", offer.price_read_on)
            assert offer.node_label[0] and offer.node_label[1]
            names = [name for name, _ in offer.machine_types]
            assert len(names) == len(set(names))


def test_default_machine_type_is_first_with_that_gpu_count() -> None:
    offer = catalog.offering("nvidia-a10g", "aws")
    assert offer is not None
    assert offer.default_machine_type(1) == "g5.xlarge"
    assert offer.default_machine_type(3) is None
    assert offer.gpus_of("g5.12xlarge") == 4


def test_known_gaps() -> None:
    assert catalog.offering("nvidia-a10g", "gcp") is None
    assert catalog.offering("nvidia-l4", "azure") is None
    assert catalog.clouds_offering("nvidia-a10g") == ["aws"]


def test_file_is_canonical_json() -> None:
    text = resources.files("compiler.catalog").joinpath("accelerators.json").read_text()
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n"


# --- machine shapes (vCPUs, memory) ---------------------------------------------------------

# Per GPU, across every machine type listed: the smallest is GCP n1-standard-4 (15 GB with one
# T4), the largest GCP a3-ultragpu-8g (369 GB per H200). Outside these the data is wrong.
MEMORY_PER_GPU = (8.0, 512.0)
VCPUS_PER_GPU = (4, 64)
MEMORY_PER_VCPU = (3.5, 24.0)  # n1-standard 3.75 ... Standard_ND96amsr_A100_v4 19.8


def _machine_types() -> list[tuple[str, str, str, int]]:
    rows = []
    for accelerator in catalog.accelerators():
        for cloud in CLOUDS:
            offer = catalog.offering(accelerator, cloud)
            if offer is not None:
                rows += [(accelerator, cloud, name, gpus) for name, gpus in offer.machine_types]
    return rows


def _shape(accelerator: str, cloud: str, machine_type: str) -> catalog.MachineShape:
    offer = catalog.offering(accelerator, cloud)
    assert offer is not None
    shape = offer.machine_shape(machine_type)
    assert shape is not None, f"{machine_type} has no shape"
    return shape


def test_every_machine_type_has_a_sane_shape() -> None:
    rows = _machine_types()
    assert len(rows) == 69
    for accelerator, cloud, name, gpus in rows:
        shape = _shape(accelerator, cloud, name)
        assert isinstance(shape.vcpus, int) and shape.vcpus > 0, name
        assert MEMORY_PER_GPU[0] <= shape.memory_gib / gpus <= MEMORY_PER_GPU[1], name
        assert VCPUS_PER_GPU[0] <= shape.vcpus / gpus <= VCPUS_PER_GPU[1], name
        assert MEMORY_PER_VCPU[0] <= shape.memory_gib / shape.vcpus <= MEMORY_PER_VCPU[1], name


def test_shapes_are_dated_and_sourced() -> None:
    for accelerator in catalog.accelerators():
        for cloud, entry in catalog.raw()["accelerators"][accelerator]["clouds"].items():
            if entry["offered"]:
                assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", entry["shapeReadOn"])
                assert len(entry["shapeSource"]) > 20, (accelerator, cloud)


def test_unlisted_machine_type_has_no_shape() -> None:
    offer = catalog.offering("nvidia-h100-80gb", "aws")
    assert offer is not None
    assert offer.machine_shape("p4d.24xlarge") is None  # listed for A100 40GB, not H100
    assert hash(offer) == hash(catalog.offering("nvidia-h100-80gb", "aws"))  # still frozen


def test_shapes_agree_with_the_clouds_naming_rules() -> None:
    """Each cloud encodes the vCPU count in most names; a typo in the data breaks it."""
    for accelerator, cloud, name, _ in _machine_types():
        shape = _shape(accelerator, cloud, name)
        if cloud == "gcp" and (m := re.fullmatch(r"(n1|g2)-standard-(\d+)", name)):
            assert shape.vcpus == int(m[2]), name
            # N1 standard: 3.75 GB per vCPU; G2 standard: 4 GB per vCPU (Google's machine
            # type pages, general-purpose-machines and accelerator-optimized-machines).
            assert shape.memory_gib == shape.vcpus * (3.75 if m[1] == "n1" else 4), name
        elif cloud == "aws" and (m := re.fullmatch(r"[a-z0-9]+\.(\d*)xlarge", name)):
            assert shape.vcpus == 4 * int(m[1] or 1), name  # xlarge = 4 vCPUs, Nxlarge = 4N
        elif cloud == "azure":
            m = re.fullmatch(r"Standard_N[CD](\d+)[a-z]*_.+", name)
            assert m and shape.vcpus == int(m[1]), name


def test_well_known_shapes() -> None:
    known = {
        # Amazon EC2 User Guide, accelerated computing instances, Hardware specifications
        # (awsdocs/amazon-ec2-user-guide doc_source/accelerated-computing-instances.md, e3707c4)
        ("nvidia-a100-40gb", "aws", "p4d.24xlarge"): (96, 1152),
        ("nvidia-t4", "aws", "g4dn.metal"): (96, 384),
        ("nvidia-a10g", "aws", "g5.48xlarge"): (192, 768),
        # cloud.google.com/compute/docs/accelerator-optimized-machines: "208 vCPUs, and
        # 1,872 GB of memory" (A3 High); gcloud compute machine-types list agrees
        ("nvidia-h100-80gb", "gcp", "a3-highgpu-8g"): (208, 1872),
        ("nvidia-a100-40gb", "gcp", "a2-highgpu-1g"): (12, 85),
        # cloud.google.com/compute/docs/machine-types: n1-standard-8, 8 vCPUs and 30 GB
        ("nvidia-t4", "gcp", "n1-standard-8"): (8, 30),
        # learn.microsoft.com .../sizes/gpu-accelerated/ndh100v5-series: 96 vCPUs, 1,900 GiB
        ("nvidia-h100-80gb", "azure", "Standard_ND96isr_H100_v5"): (96, 1900),
        # .../ndasra100v4-series: 96 vCPUs, 900 GiB; .../ncast4v3-series: 4 vCPUs, 28 GiB
        ("nvidia-a100-40gb", "azure", "Standard_ND96asr_v4"): (96, 900),
        ("nvidia-t4", "azure", "Standard_NC4as_T4_v3"): (4, 28),
    }
    for (accelerator, cloud, name), (vcpus, memory) in known.items():
        assert _shape(accelerator, cloud, name) == catalog.MachineShape(vcpus, memory), name


def test_docs_shape_table_matches_the_catalog() -> None:
    unit = {"aws": "GiB", "azure": "GiB", "gcp": "GB"}
    text = (REPO / "docs" / "catalog.md").read_text()
    row = r"^\| `([a-z0-9-]+)` \| (\w+) \| `([^`]+)` \| (\d+) \| (\d+) \| ([\d.]+) (GiB|GB) \|$"
    documented = set(re.findall(row, text, re.M))
    expected = set()
    for accelerator, cloud, name, gpus in _machine_types():
        shape = _shape(accelerator, cloud, name)
        memory = f"{shape.memory_gib:g}"
        expected.add((accelerator, cloud, name, str(gpus), str(shape.vcpus), memory, unit[cloud]))
    assert documented == expected, "regenerate the machine-shapes table in docs/catalog.md"


def test_docs_memory_table_matches_the_catalog() -> None:
    text = (REPO / "docs" / "catalog.md").read_text()
    row = r"^\| `([a-z0-9-]+)` \| (\d+) \| (\d+) \| ([\d.]+) \| (.+) \|$"
    documented = set(re.findall(row, text, re.M))
    expected = {
        (
            name,
            str(entry["gpuMemoryGiB"]),
            str(entry["usableMemoryMiB"]),
            f"{entry['usableMemoryMiB'] / 1024:.2f}",
            entry["usableMemorySource"],
        )
        for name, entry in catalog.raw()["accelerators"].items()
    }
    assert documented == expected, "regenerate the GPU memory table in docs/catalog.md"
