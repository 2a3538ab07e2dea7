"""Pieces the text and markdown reports of `modelkiln diff` share. ascii_only: the text
report stays ASCII (-> and -), the markdown one uses → and –."""

from __future__ import annotations

import json

from compiler.gitops.compare import Changes, EnvDelta, Value


def show_value(name: str, value: Value, ascii_only: bool) -> str:
    if value is None:
        return "none"
    if name == "training.gpus":
        gpus, nodes = value
        return f"{gpus} x {nodes}" if ascii_only else f"{gpus} × {nodes}"
    if name == "serving.replicas":
        return f"{value[0]}-{value[1]}" if ascii_only else f"{value[0]}–{value[1]}"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def range_text(low: float, high: float, ascii_only: bool, money: bool = False) -> str:
    dash = "-" if ascii_only else "–"
    if money:
        return f"${low:,.0f}{dash}${high:,.0f}"
    return f"{low:.0f}{dash}{high:.0f}"


def signed(value: float, money: bool = False) -> str:
    sign = "-" if value < 0 else "+"
    magnitude = abs(value)
    return f"{sign}${magnitude:,.0f}" if money else f"{sign}{magnitude:.0f}"


Row = tuple[str, Value, Value, list[str]]  # field, base, head, environments


def grouped_changes(per_env: dict[str, Changes]) -> list[Row]:
    """A model's field changes with the environments each holds in, identical ones merged."""
    rows: dict[tuple[str, str, str], Row] = {}
    for env, fields in per_env.items():
        for name, (old, new) in fields.items():
            key = (name, json.dumps(old, sort_keys=True), json.dumps(new, sort_keys=True))
            rows.setdefault(key, (name, old, new, []))[3].append(env)
    return list(rows.values())


def gpu_line(delta: EnvDelta, ascii_only: bool) -> str:
    arrow = "->" if ascii_only else "→"
    base = range_text(*delta.base_gpus, ascii_only)
    head = range_text(*delta.head_gpus, ascii_only)
    if delta.base_gpus == delta.head_gpus:
        return base
    low, high = delta.gpu_delta
    return f"{base} {arrow} {head} ({signed(low)}/{signed(high)})"


def cost_line(delta: EnvDelta, ascii_only: bool) -> str:
    arrow = "->" if ascii_only else "→"
    base = range_text(*delta.base_cost, ascii_only, money=True)
    head = range_text(*delta.head_cost, ascii_only, money=True)
    # equal to the cent: float noise in the sums is no change
    if [round(c, 2) for c in delta.base_cost] == [round(c, 2) for c in delta.head_cost]:
        return base
    low, high = delta.cost_delta
    return f"{base} {arrow} {head} ({signed(low, True)}/{signed(high, True)})"


def envs_note(envs: list[str], every: list[str]) -> str:
    return "all environments" if envs == every else ", ".join(envs)
