"""kfp components: the built-in steps (built once per image setting) and the user's
containers (built from the plan as data, never from generated Python source)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from kfp import dsl
from kfp.dsl import Input, Metrics, Model, Output

from compiler.plan import StepImages
from compiler.targets.kubeflow import steps

STEP_PACKAGES = {
    "check_data": ["pyarrow>=15"],
    "check_gates": [],
    "register_model": ["pyarrow>=15"],
    "launch_training_job": ["kubernetes>=29", "pyarrow>=15"],
}


@cache
def builtin(name: str, images: StepImages) -> Any:
    """The built-in step `name` as a kfp component, built once per image setting."""
    func = getattr(steps, name)
    image = {
        "check_data": images.data_check,
        "check_gates": images.gate,
        "register_model": images.register,
        "launch_training_job": images.launcher,
    }[name]
    install = images.install_packages
    return dsl.component(
        func,
        base_image=image,
        packages_to_install=STEP_PACKAGES[name] if install else None,
        install_kfp_package=install,
    )


# A POSIX sh prologue that hands the step's paths to the user's program as environment
# variables, so the user's own command and args reach it unchanged.
_PROLOGUE = (
    'export MODELKILN_MODEL_DIR="$1" MODELKILN_METRICS_PATH="$2" '
    'MODELKILN_DATA_VERSIONS="$3"; shift 3; exec "$@"'
)


def _json_object(bound: dict[str, Any], pairs: Sequence[tuple[str, str]]) -> Any:
    """{"name": "<value of input>", ...} assembled at run time from the inputs."""
    if not pairs:
        return "{}"
    items: list[Any] = ["{"]
    for i, (key, ident) in enumerate(pairs):
        items += [("" if i == 0 else ", ") + f'"{key}": "', bound[ident], '"']
    items.append("}")
    return dsl.ConcatPlaceholder(items)


ParamType = type[int] | type[float] | type[str] | type[bool]


def param_type(value: Any) -> ParamType:
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        return int
    if isinstance(value, float):
        return float
    return str


def container(
    name: str,
    image: str,
    command: Sequence[str],
    args: Sequence[str],
    inputs: Sequence[tuple[str, Any]],
    model_io: str,
    extra_args: Callable[[dict[str, Any]], list[Any]],
    data_versions: Sequence[tuple[str, str]],
) -> Any:
    """A container component for a user's image.

    inputs: (name, type) of the parameters it takes. model_io: "out" when the step writes
    the model (training), "in" when it reads it (evaluation). Either way it writes metrics.
    extra_args builds the arguments appended after the user's args, from the inputs.
    data_versions: (source name, input name) pairs, handed over as one JSON object.
    """
    params = [
        inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=t)
        for n, t in inputs
    ]
    model_type = Output[Model] if model_io == "out" else Input[Model]
    params.append(
        inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=model_type)
    )
    params.append(
        inspect.Parameter(
            "metrics", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Output[Metrics]
        )
    )
    names = [p.name for p in params]

    def spec(*values: Any) -> dsl.ContainerSpec:
        bound = dict(zip(names, values, strict=True))
        if not command:
            # The image's own entrypoint runs: it gets the args, but no paths (only a
            # command can be wrapped); it saves the model to MODELKILN_STORAGE_URI.
            return dsl.ContainerSpec(image=image, args=[*args, *extra_args(bound)])
        return dsl.ContainerSpec(
            image=image,
            command=["sh", "-c", _PROLOGUE, "modelkiln-step"],
            args=[
                bound["model"].path,
                bound["metrics"].path,
                _json_object(bound, data_versions),
                *command,
                *args,
                *extra_args(bound),
            ],
        )

    spec.__name__ = name
    spec.__qualname__ = name
    spec.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    spec.__annotations__ = {p.name: p.annotation for p in params}
    return dsl.container_component(spec)
