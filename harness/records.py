"""The result record: one JSON document per case, the contract that reports,
comparisons and users read (schema ``accelbench.result/1``).

Records are written atomically: to a temporary file in the same folder, fsync'd,
then renamed over the target, so a reader (or a crash) never sees half a record.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelbench.facts.schema import PLAN_FILE, RESULT_SCHEMA

STATUSES = ("ok", "failed", "skipped", "unavailable")


class RecordError(ValueError):
    """A file is not a readable result record."""


@dataclass
class KernelPart:
    name: str
    preset: str
    config: dict[str, Any]
    flops_per_step: float | None = None
    flops_by_convention: dict[str, float] = field(default_factory=dict)
    bytes_per_step: float | None = None
    tokens_per_step: int | None = None
    flop_convention: str | None = None


@dataclass
class BackendPart:
    name: str
    framework: str
    device_kind: str | None = None
    device_catalog_key: str | None = None
    device_count: int = 1
    precision: str | None = None
    fence: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class TimingPart:
    setup_s: float | None = None
    """Process start to the start of the compile (imports, device setup, initial state); None off Linux."""
    compile_s: float | None = None
    first_step_s: float | None = None
    warmup_steps: int = 0
    steps: int = 0
    repeats: int = 0
    step_s: dict[str, Any] | None = None
    samples_s: list[float] = field(default_factory=list)
    """One per-step time per timed window (window time ÷ steps): what ``step_s`` summarises."""
    policy: dict[str, Any] | None = None
    """How the steps were timed (harness.timing.WindowPolicy.describe)."""
    unstable: list[str] = field(default_factory=list)
    """Reasons to distrust the timing (wide interval, two clusters, load from others); empty: stable."""
    fenced_samples_s: list[float] = field(default_factory=list)
    """Diagnostic: steps each fenced on its own (the host waits for every step)."""
    fence_audit: dict[str, Any] | None = None
    host: dict[str, Any] | None = None
    """Load averages before/after the timed windows and the host threads that ran."""
    plausibility: dict[str, Any] | None = None


@dataclass
class MetricsPart:
    tokens_per_s: float | None = None
    tflops: float | None = None
    mfu: float | None = None
    hbm_tbps: float | None = None
    peak_mem_bytes: int | None = None
    joules_per_token: float | None = None
    mfu_basis: dict[str, Any] | None = None
    """What MFU was divided by (peak, precision, chips, convention, source) or why there is none."""
    hbm_util: float | None = None
    """hbm_tbps ÷ the catalog's memory bandwidth for the chips used."""
    avg_watts: float | None = None
    energy: dict[str, Any] | None = None
    """How energy was measured over the timed window (method, joules, seconds) or why it was not."""
    errors: list[str] = field(default_factory=list)
    """Metrics that were impossible (e.g. MFU above 100%) and were therefore left out."""


@dataclass
class NumericsPart:
    reference: str | None = None
    max_rel_err: float | None = None
    worst: str | None = None
    tolerance: float | None = None
    passed: bool | None = None
    replica: str | None = None
    """The worst device where one process held several replicas (a JAX mesh); None otherwise."""
    loss_first: float | None = None
    loss_last: float | None = None
    """The loss of the last timed step (not of the audit's or the diagnostic's steps, whose number
    depends on the audit), so runs of one workload under any layout compare step for step."""


@dataclass
class ResultRecord:
    run_id: str
    created_at: str
    status: str
    kernel: KernelPart
    backend: BackendPart
    error: dict[str, str] | None = None
    timing: TimingPart = field(default_factory=TimingPart)
    metrics: MetricsPart = field(default_factory=MetricsPart)
    numerics: NumericsPart = field(default_factory=NumericsPart)
    cost: dict[str, Any] | None = None
    env: dict[str, Any] = field(default_factory=dict)
    schema: str = RESULT_SCHEMA
    wall_s: float | None = None
    """The case process's wall time, start to exit, set by the runner (harness.runner) after it ends."""

    def to_dict(self) -> dict[str, Any]:
        return _finite(dataclasses.asdict(self))


def _finite(value):
    """JSON has no NaN or Infinity: store them as strings a reader can see."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder,
    fsync'd, then renamed over the target: a reader (or a crash) sees the old
    file or the new one, never half of one. The file gets the mode a plain
    ``open()`` would give it (0666 less the umask, 0644 usually), not the
    owner-only 0600 ``mkstemp`` creates it with. OSError on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _umask() -> int:
    """The process umask (reading it means setting it; set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_atomic(path: str | os.PathLike, data: dict[str, Any]) -> Path:
    """A JSON document (a record, a plan), written as ``write_bytes_atomic`` does."""
    return write_bytes_atomic(path, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())


def write_record(path, record: ResultRecord) -> Path:
    return write_atomic(path, record.to_dict())


def read_json(path: str | os.PathLike) -> Any:
    """Parse a JSON file; RecordError names the file and why it is unreadable
    (missing, empty, truncated, absurd numbers or nesting)."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: cannot read: {exc}") from None
    if not text.strip():
        raise RecordError(f"{path}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}: not valid JSON, perhaps truncated ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:  # e.g. a 5,000-digit integer, arrays nested 10⁵ deep
        raise RecordError(f"{path}: not valid JSON ({type(exc).__name__})") from None


def skeleton_problem(data: Any) -> str | None:
    """Why ``data`` is not a result record at all (schema, status, kernel and backend names),
    or None: the check every reader of records shares (files, pytest-benchmark entries)."""
    if not isinstance(data, dict) or data.get("schema") != RESULT_SCHEMA:
        return f"not an accelbench result record (no schema '{RESULT_SCHEMA}')"
    for key, kind in (("status", str), ("kernel", dict), ("backend", dict), ("run_id", str)):
        if not isinstance(data.get(key), kind):
            return f"field '{key}' missing or not a {kind.__name__}"
    for part in ("kernel", "backend"):
        if not isinstance(data[part].get("name"), str):
            return f"field '{part}.name' missing or not a str"
    if data["status"] not in STATUSES:
        return f"status {data['status']!r} is not one of {', '.join(STATUSES)}"
    return None


def load_record(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check one record; RecordError names the file and the problem."""
    path = Path(path)
    data = read_json(path)
    if problem := skeleton_problem(data):
        raise RecordError(f"{path}: {problem}")
    return data


def record_files(folder: str | os.PathLike) -> list[Path]:
    """The candidate record files of a results folder (hidden temp files and the plan excluded)."""
    folder = Path(folder)
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith(".") and p.name != PLAN_FILE)
