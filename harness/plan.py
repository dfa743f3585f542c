"""From what the user asked (suite, kernels, backends, --set) to a list of cases.

Everything a user types is validated here, before any case runs: kernel,
preset and backend names, ``--set`` keys and the types of their values, and
suite files. Errors are ``PlanError`` with one line naming what was wrong and
what is accepted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any

from accelbench import backends
from accelbench import kernels
from accelbench.backends.base import BackendError
from accelbench.harness.layout import LAYOUT_FIELDS, Layout
from accelbench.harness.suite_file import PlanError, is_positive_seconds, load_suite
from accelbench.kernels.base import KernelError
from accelbench.suggest import did_you_mean

DEFAULT_STEPS, DEFAULT_WARMUP, DEFAULT_REPEATS = 10, 2, 10  # steps per timed window, windows: harness.timing
DEFAULT_TIMEOUT_TINY_S, DEFAULT_TIMEOUT_S = 300.0, 3600.0


@dataclass(frozen=True)
class CaseId:
    """The one format of a case's id, which is also its record's file name:

        KERNEL-PRESET--BACKEND[--SETTINGSHASH][--dpNPROC | --dpNNODESxNPROC]

    e.g. ``gpt2-124m--torch-cuda``, ``gemm-tiny--jax-cpu--3f2a9c1d`` (``--set``
    values, hashed), ``gpt2-tiny--torch-cpu--dp2``, ``gpt2-124m--torch-cuda--dp2x8``.
    Kernel names hold no '-' (``kernels/__init__.py``), so the first '-' ends
    the kernel; backend names hold no "--"."""

    kernel: str
    preset: str
    backend: str
    settings_hash: str | None = None
    nproc: int = 1
    nnodes: int = 1

    def __str__(self) -> str:
        text = f"{self.kernel}-{self.preset}--{self.backend}"
        if self.settings_hash:
            text += f"--{self.settings_hash}"
        if self.nproc * self.nnodes > 1:
            text += f"--dp{self.nproc}" if self.nnodes == 1 else f"--dp{self.nnodes}x{self.nproc}"
        return text

    @property
    def devices(self) -> int:
        return self.nproc * self.nnodes

    @classmethod
    def parse(cls, text: str) -> "CaseId | None":
        """The parts of an id ``str(CaseId)`` wrote; None for any other text.
        A prefix up to the last ':' (the file several records came from, as
        ``reports.load`` writes for such files) is ignored."""
        match = _CASE_ID.fullmatch(text.rpartition(":")[2])
        if not match:
            return None
        nnodes, nproc = (match["nnodes"] or 1, match["nproc"] or 1)
        return cls(match["kernel"], match["preset"], match["backend"], match["hash"], int(nproc), int(nnodes))


_CASE_ID = re.compile(
    r"(?P<kernel>[a-z0-9_]+)-(?P<preset>[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*)"
    r"--(?P<backend>[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)*)"
    r"(?:--(?P<hash>[0-9a-f]{8}))?"
    r"(?:--dp(?:(?P<nnodes>[0-9]+)x)?(?P<nproc>[0-9]+))?"
)


@dataclass(frozen=True)
class Case:
    kernel: str
    preset: str
    backend: str
    kernel_settings: dict[str, Any] = field(default_factory=dict)
    backend_settings: dict[str, Any] = field(default_factory=dict)
    steps: int = DEFAULT_STEPS
    warmup: int = DEFAULT_WARMUP
    repeats: int = DEFAULT_REPEATS
    """Timed windows (``--windows``); plan files, suites and records keep the key 'repeats'."""
    timeout_s: float = DEFAULT_TIMEOUT_S
    check_fit: bool = True
    """Skip the case when the kernel's memory estimate exceeds the device's memory."""
    instance: str | None = None
    usd_per_hour: float | None = None
    prices_file: str | None = None
    chips_per_instance: int | None = None
    """How the worker prices the case (``--instance`` / ``--usd-per-hour`` / ``--prices`` / ``--chips-per-instance``;
    see accelbench.harness.cost)."""
    tier: str | None = None
    """``--tier``: how the priced instance is bought (spot, capacity-block, ...); None: the entry's own price."""
    layout: Layout = Layout()
    """Where the case runs: one device, or data-parallel over nproc × nnodes (``--nproc`` ...; accelbench.harness.launch)."""

    @property
    def case_id(self) -> str:
        """File-name-safe id (see ``CaseId``); settings that change the work add a short hash."""
        settings_hash = None
        if self.kernel_settings or self.backend_settings:
            blob = json.dumps([self.kernel_settings, self.backend_settings], sort_keys=True)
            settings_hash = hashlib.sha256(blob.encode()).hexdigest()[:8]
        return str(CaseId(self.kernel, self.preset, self.backend, settings_hash, self.layout.nproc,
                          self.layout.nnodes))

    @property
    def label(self) -> str:
        extra = {**self.kernel_settings, **self.backend_settings}
        suffix = " " + " ".join(f"{k}={v}" for k, v in sorted(extra.items())) if extra else ""
        suffix += self.layout.label_suffix
        return f"{self.kernel}:{self.preset} on {self.backend}{suffix}"

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["layout"] = self.layout.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Case":
        """A case as ``to_dict`` wrote it; the flat layout fields of plan files
        written before ``layout`` was its own object (``nproc``, ``nnodes``, ...
        beside ``kernel``) still load."""
        data = dict(data)
        flat = {name: data.pop(name) for name in LAYOUT_FIELDS if name in data}
        layout = data.pop("layout", None) or {}
        return cls(**data, layout=Layout(**{**layout, **flat}))


# ----------------------------------------------------------------- --set values
def _convert(text: str, kind, key: str):
    origin = typing.get_origin(kind)
    if origin is typing.Union or str(origin) == "<class 'types.UnionType'>":
        options = [a for a in typing.get_args(kind) if a is not type(None)]
        if text.lower() in ("none", "null", ""):
            return None
        kind = options[0]
    if kind is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise PlanError(f"--set {key}={text}: expected a boolean (true/false)")
    if kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            raise PlanError(f"--set {key}={text}: expected {'an integer' if kind is int else 'a number'}") from None
        if kind is float and not math.isfinite(value):
            raise PlanError(f"--set {key}={text}: expected a finite number (NaN and infinity are not accepted)")
        return value
    return text


def parse_assignment(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise PlanError(f"--set '{item}': expected key=value")
    return key, value.strip()


def field_types(cls) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def typed_problem(value: Any, kind) -> str | None:
    """Why ``value``, read from a typed file (a suite's TOML, a plan's JSON), is not of
    the declared type ``kind``, or None: booleans are booleans, numbers finite numbers."""
    options = [a for a in typing.get_args(kind) if a is not type(None)]
    if options and len(options) < len(typing.get_args(kind)):  # X | None
        if value is None:
            return None
        kind = options[0]
    if kind is bool:
        return None if isinstance(value, bool) else f"must be true or false, got {value!r}"
    if kind is int:
        return None if isinstance(value, int) and not isinstance(value, bool) else f"must be an integer, got {value!r}"
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return None if ok else f"must be a finite number, got {value!r}"
    if kind is str:
        return None if isinstance(value, str) else f"must be a string, got {value!r}"
    return None


def _typed(value: Any, kind, key: str):
    """A suite's TOML value for setting ``key``: strings are read as --set texts, any other
    value must already have the field's type."""
    if isinstance(value, str):
        return _convert(value, kind, key)
    if problem := typed_problem(value, kind):
        raise PlanError(f"setting '{key}' {problem}")
    wants_float = kind is float or float in typing.get_args(kind)
    return float(value) if wants_float and value is not None else value  # TOML 8 for a float field: 8.0


def split_settings(raw: dict[str, Any], kernel_names, backend_names) -> tuple[dict, dict]:
    """Type each --set value by the kernel config or backend settings field it
    names. A key must belong to at least one selected kernel or backend. A value
    that is not a string (a suite's TOML true, 8, 0.5) must have the field's type."""
    kernel_fields: dict[str, Any] = {}
    for name in kernel_names:
        kernel_fields.update(field_types(kernels.get(name).config_cls))
    backend_fields: dict[str, Any] = {}
    for name in backend_names:
        backend_fields.update(field_types(backends.get_class(name).settings_cls))
    kernel_values, backend_values = {}, {}
    for key, text in raw.items():
        if key not in kernel_fields and key not in backend_fields:
            accepted = sorted(set(kernel_fields) | set(backend_fields))
            raise PlanError(f"unknown --set key '{key}'{did_you_mean(key, accepted)}; accepted here: {', '.join(accepted)}")
        if key in kernel_fields:
            kernel_values[key] = _typed(text, kernel_fields[key], key)
        if key in backend_fields:
            backend_values[key] = _typed(text, backend_fields[key], key)
    return kernel_values, backend_values


# --------------------------------------------------------------------- plan


def default_timeout(preset: str, kernel=None) -> float:
    """A case's wall-clock limit when neither --timeout nor the suite sets one:
    the preset's own ``timeout_s`` where it declares one, else 300 s for the
    CPU-sized ``tiny`` presets and 3600 s for real sizes (a first compile of a
    large model can take minutes on some stacks)."""
    declared = getattr(kernel.presets.get(preset), "timeout_s", None) if kernel is not None else None
    if declared is not None:
        return float(declared)
    return DEFAULT_TIMEOUT_TINY_S if preset == "tiny" else DEFAULT_TIMEOUT_S


def build_plan(
    suite: str | None,
    kernel_specs: list[str],
    backend_names: list[str],
    set_items: list[str],
    steps: int | None = None,
    warmup: int | None = None,
    windows: int | None = None,
    timeout: float | None = None,
) -> list[Case]:
    """Cases for every kernel spec × backend. Without --kernel and --suite, the
    smoke suite; without --backend, the suite's backends."""
    loaded = load_suite(suite or "smoke") if (suite or not kernel_specs) else None
    specs = kernel_specs or (loaded.kernels if loaded else [])
    chosen_backends = backend_names or (loaded.backends if loaded else ["torch-cpu"])
    raw = dict(loaded.settings) if loaded else {}
    given_keys: set[str] = set()
    scoped: dict[str, dict[str, str]] = {}  # --set KERNEL:key=value: that kernel only, over the suite and --set key
    for item in set_items:
        key, value = parse_assignment(item)
        if key in given_keys:
            raise PlanError(f"--set {key} given twice; give each key once")
        given_keys.add(key)
        if ":" in key:
            kernel_name, _, own_key = key.partition(":")
            scoped.setdefault(kernel_name, {})[own_key] = value
        else:
            raw[key] = value
    for what, names in (("--backend", chosen_backends), ("--kernel", specs)):
        repeated = sorted({n for n in names if list(names).count(n) > 1})
        if repeated:
            raise PlanError(f"{what} '{repeated[0]}' given twice; give each once")
    try:
        parsed = [kernels.parse_spec(spec) for spec in specs]
        known = backends.names()
    except (KernelError, BackendError) as exc:
        raise PlanError(str(exc)) from None
    for name in chosen_backends:
        if name not in known:
            raise PlanError(f"unknown backend '{name}'{did_you_mean(name, known)}; accepted: {', '.join(known)}")
    kernel_values, backend_values = split_settings(raw, {k.name for k, _ in parsed}, chosen_backends)
    for key in ("steps", "warmup", "windows"):
        count = {"steps": steps, "warmup": warmup, "windows": windows}[key]
        if count is not None and count < (0 if key == "warmup" else 1):
            raise PlanError(f"--{key} must be {'>= 0' if key == 'warmup' else '>= 1'}, got {count}")
    if timeout is not None and not is_positive_seconds(timeout):
        raise PlanError(f"--timeout must be a positive number of seconds, got {timeout}")
    if loaded:
        unknown = sorted(set(loaded.kernel_settings) - {k.name for k, _ in parsed})
        if unknown:
            raise PlanError(f"suite {loaded.name}: kernel_settings for '{unknown[0]}', which the suite does not run")
    for name, values in scoped.items():
        if name not in {k.name for k, _ in parsed}:
            raise PlanError(f"--set {name}:{next(iter(values))}: kernel '{name}' is not in this plan; kernels here: "
                            f"{', '.join(sorted({k.name for k, _ in parsed}))}")
        fields = field_types(kernels.get(name).config_cls)
        bad = sorted(set(values) - set(fields))
        if bad:
            raise PlanError(f"unknown --set key '{name}:{bad[0]}'; accepted for {name}: {', '.join(sorted(fields))}")
    cases = []
    for kernel, preset in parsed:
        own_fields = set(field_types(kernel.config_cls))
        ks = {k: v for k, v in kernel_values.items() if k in own_fields}
        suite_own = {k: v for k, v in (loaded.kernel_settings.get(kernel.name, {}) if loaded else {}).items()
                     if k not in given_keys}  # --set wins over the suite's per-kernel settings
        if suite_own:
            ks.update(split_settings(suite_own, {kernel.name}, [])[0])
        if kernel.name in scoped:
            ks.update(split_settings(scoped[kernel.name], {kernel.name}, [])[0])
        try:
            kernel.config(preset, ks)
        except (KernelError, TypeError) as exc:
            raise PlanError(str(exc)) from None
        for backend_name in chosen_backends:
            backend_cls = backends.get_class(backend_name)
            own = set(field_types(backend_cls.settings_cls))
            unused = sorted({k for k in given_keys if ":" not in k} - own_fields - own)  # never dropped for some cases
            # (KERNEL:key settings were checked against their own kernel above)
            if unused:
                raise PlanError(f"--set {unused[0]}={raw[unused[0]]} cannot apply to {kernel.name}:{preset} on "
                                f"{backend_name} (neither has a '{unused[0]}' setting); choose the cases it applies "
                                f"to with --kernel/--backend")
            suite_unused = sorted(set(loaded.settings if loaded else {}) - given_keys - own_fields - own)
            if loaded and suite_unused:  # a suite's setting is never dropped for some cases either
                raise PlanError(f"suite {loaded.name}: setting '{suite_unused[0]}' cannot apply to {kernel.name}:{preset} "
                                f"on {backend_name} (neither has a '{suite_unused[0]}' setting); move it under "
                                f"[kernel_settings.KERNEL] or run the cases it applies to with --kernel/--backend")
            try:  # a backend checks its settings (e.g. the precision) when made; it imports no stack
                backend_cls(backend_cls.settings_cls(**{k: v for k, v in backend_values.items() if k in own}))
            except (BackendError, TypeError, ValueError) as exc:
                raise PlanError(str(exc)) from None
            cases.append(
                Case(
                    kernel=kernel.name,
                    preset=preset,
                    backend=backend_name,
                    kernel_settings=ks,
                    backend_settings={k: v for k, v in backend_values.items() if k in own},
                    steps=_first(steps, loaded and loaded.steps, DEFAULT_STEPS),
                    warmup=_first(warmup, loaded and loaded.warmup, DEFAULT_WARMUP),
                    repeats=_first(windows, loaded and loaded.repeats, DEFAULT_REPEATS),
                    timeout_s=float(_first(timeout, loaded and loaded.timeout, default_timeout(preset, kernel))),
                    layout=Layout(nproc=loaded.nproc if loaded and loaded.nproc else 1),
                )
            )
    seen: set[str] = set()
    for case in cases:
        if case.case_id in seen:
            raise PlanError(f"the case '{case.label}' is asked for twice; give each kernel once")
        seen.add(case.case_id)
    return cases


def _first(*values):
    for v in values:
        if v is not None and v is not False:
            return v
    raise AssertionError("no default")
