"""The accelerator catalog: complete, well-formed, and read the way the docs say."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import get_args

from compiler import catalog
from compiler.spec.gpupool import Accelerator

CLOUDS = ("aws", "azure", "gcp")


def test_every_language_accelerator_in_every_cloud() -> None:
    data = catalog.raw()
    assert sorted(data["accelerators"]) == sorted(get_args(Accelerator))
    for entry in data["accelerators"].values():
        assert sorted(entry["clouds"]) == list(CLOUDS)
        assert entry["gpuMemoryGiB"] > 0


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
