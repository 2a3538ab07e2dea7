"""Import the parts of kfp the compiler uses, without the Kubernetes API client.

Two package initialisers of the kfp SDK import the whole `kubernetes` Python client (and
google-auth, cryptography, requests) that compiling a pipeline never touches, about two
thirds of the time it takes to import the pipeline back end (measured with
`python -X importtime`; it dominates a one-model `compile --changed-since`):

- `kfp/__init__.py` (kfp 2.17.3) imports `kfp.client` unless `_KFP_RUNTIME` is "true"
  (the switch kfp's own executor uses at run time); kfp.client imports `kubernetes`.
- `kfp/kubernetes/__init__.py` (kfp-kubernetes 2.17.3) imports every helper, and
  `kfp.kubernetes.node_affinity` imports `kubernetes`; the compiler needs only the
  generated protobuf module `kubernetes_executor_config_pb2`.

So kfp's package initialiser runs with `_KFP_RUNTIME` set (only while it runs: kfp.dsl is
imported afterwards, with every compile-time part), `kfp.Client` stays reachable lazily
(PEP 562 module `__getattr__`), and the protobuf module is loaded from its file under its
own name, so a later `import kfp.kubernetes` reuses it (one registration of its
descriptors). Where kfp is already imported, nothing is changed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

_SWITCH = "_KFP_RUNTIME"
_PB2 = "kfp.kubernetes.kubernetes_executor_config_pb2"


def _lazy(name: str) -> Any:
    """kfp's names that its initialiser would have imported, imported when first used."""
    if name == "Client":
        return importlib.import_module("kfp.client").Client
    if name in ("client", "components", "dsl"):
        return importlib.import_module(f"kfp.{name}")
    raise AttributeError(f"module 'kfp' has no attribute {name!r}")


def import_kfp() -> None:
    """Import the kfp package without kfp.client (see the module docstring)."""
    if "kfp" in sys.modules:
        return
    saved = os.environ.get(_SWITCH)
    os.environ[_SWITCH] = "true"
    try:
        import kfp
    finally:
        if saved is None:
            del os.environ[_SWITCH]
        else:
            os.environ[_SWITCH] = saved
    if not hasattr(kfp, "Client"):
        kfp.__getattr__ = _lazy


def executor_config_pb2() -> ModuleType:
    """kfp-kubernetes' KubernetesExecutorConfig protobuf module, without the package's
    initialiser (and so without the kubernetes client)."""
    loaded = sys.modules.get(_PB2)
    if loaded is not None:
        return loaded
    import_kfp()
    package = importlib.util.find_spec("kfp.kubernetes")
    if package is None or not package.submodule_search_locations:
        return importlib.import_module(_PB2)
    for folder in package.submodule_search_locations:
        path = Path(folder) / "kubernetes_executor_config_pb2.py"
        spec = importlib.util.spec_from_file_location(_PB2, path)
        if path.is_file() and spec is not None and spec.loader is not None:
            module = importlib.util.module_from_spec(spec)
            sys.modules[_PB2] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[_PB2]
                raise
            return module
    return importlib.import_module(_PB2)
