"""Suite files: a named set of cases in TOML (``harness/suites/*.toml``, or a
path), read and checked before anything runs. Every problem is a ``PlanError``
with one line naming the file, the key and what is accepted."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelbench.suggest import did_you_mean

SUITES_DIR = Path(__file__).resolve().parent / "suites"


class PlanError(ValueError):
    """Bad user input: one line saying what was wrong and what is accepted."""


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    kernels: list[str]
    backends: list[str]
    settings: dict[str, Any]
    steps: int | None = None
    warmup: int | None = None
    repeats: int | None = None
    timeout: float | None = None
    nproc: int | None = None
    """Devices per node of a whole-instance suite (data-parallel); --nproc overrides it."""
    kernel_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Settings for one kernel only (``[kernel_settings.llama]``), over ``settings``; --set overrides both."""
    differs: str = ""
    """Where this whole-instance suite departs from the flagship workload, and why ("" : it does not)."""


SUITE_KEYS = {"differs", "description", "kernels", "backends", "settings", "kernel_settings", "steps", "warmup", "repeats",
              "timeout", "nproc"}


def builtin_suites() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def load_suite(name_or_path: str) -> Suite:
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.exists()):
        path = SUITES_DIR / f"{name_or_path}.toml"
        if not path.exists():
            raise PlanError(
                f"unknown suite '{name_or_path}'{did_you_mean(name_or_path, builtin_suites())}; accepted: {', '.join(builtin_suites())} or a path to a .toml file"
            )
    from accelbench.facts.catalog import read_toml

    data = read_toml(path, "suite file", PlanError)
    unknown = sorted(set(data) - SUITE_KEYS)
    if unknown:
        raise PlanError(f"suite file {path}: unknown key '{unknown[0]}'; accepted: {', '.join(sorted(SUITE_KEYS))}")
    for key in ("kernels", "backends"):
        if not isinstance(data.get(key), list) or not data[key] or not all(isinstance(x, str) for x in data[key]):
            raise PlanError(f"suite file {path}: '{key}' must be a non-empty list of strings")
    if not isinstance(data.get("settings", {}), dict):
        raise PlanError(f"suite file {path}: 'settings' must be a table")
    for key, value in data.get("settings", {}).items():
        if not isinstance(value, (str, int, float, bool)):
            raise PlanError(f"suite file {path}: setting '{key}' must be a string, number or boolean")
    for key in ("description", "differs"):
        if not isinstance(data.get(key, ""), str):
            raise PlanError(f"suite file {path}: '{key}' must be a string")
    per_kernel = data.get("kernel_settings", {})
    if not isinstance(per_kernel, dict) or not all(isinstance(v, dict) for v in per_kernel.values()):
        raise PlanError(f"suite file {path}: 'kernel_settings' must be a table of tables, one per kernel name")
    for kernel_name, table in per_kernel.items():
        for key, value in table.items():
            if not isinstance(value, (str, int, float, bool)):
                raise PlanError(f"suite file {path}: setting '{key}' of kernel '{kernel_name}' must be a string, number or boolean")
    for key in ("steps", "warmup", "repeats", "nproc"):
        if key in data and (not isinstance(data[key], int) or isinstance(data[key], bool) or data[key] < (0 if key == "warmup" else 1)):
            raise PlanError(f"suite file {path}: '{key}' must be a positive integer")
    if "timeout" in data and not is_positive_seconds(data["timeout"]):
        raise PlanError(f"suite file {path}: 'timeout' must be a positive number of seconds")
    return Suite(
        name=path.stem,
        description=str(data.get("description", "")),
        differs=str(data.get("differs", "")),
        kernels=data["kernels"],
        backends=data["backends"],
        settings=dict(data.get("settings", {})),  # TOML-typed: checked against each field's type in split_settings
        kernel_settings={name: dict(table) for name, table in per_kernel.items()},
        nproc=data.get("nproc"),
        steps=data.get("steps"),
        warmup=data.get("warmup"),
        repeats=data.get("repeats"),
        timeout=data.get("timeout"),
    )


def is_positive_seconds(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
