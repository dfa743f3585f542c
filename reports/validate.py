"""What ``report`` and ``compare`` accept in a record beyond its skeleton
(``harness.records.load_record`` checks schema, status and names): every
field they read must have its type and a possible value. A record that
breaks one is a bad file, skipped with one warning naming it and the field,
so a hand-edited or corrupted file can neither stop a report nor pass off a
negative step time as a 200% speed-up.

Possible means: a number (not a bool, not a string such as "12"), finite,
that fits a float (a 400-digit integer does not), and 0 or more; step times
above 0 and below ``LONGEST_STEP_S``; a device count a whole number of 1 or
more; an MFU or a chip share no more than the 100% the methodology allows to
be *shown* (an MFU above 100% is still loaded: the table marks it an error).
"""

from __future__ import annotations

import math
from typing import Any

LONGEST_STEP_S = 7 * 24 * 3600.0
"""A step longer than a week is not a measurement any case here can make (the longest timeout is hours)."""

MOST_DEVICES = 1_000_000
"""More devices than any cluster has: a corrupted count, not a run."""

_NUMBERS = (
    "kernel.flops_per_step", "kernel.bytes_per_step", "kernel.tokens_per_step",
    "timing.setup_s", "timing.compile_s", "timing.first_step_s", "timing.warmup_steps", "timing.steps", "timing.repeats",
    "timing.step_s.mean", "timing.step_s.min", "timing.step_s.max", "timing.step_s.p10", "timing.step_s.p90",
    "timing.step_s.std",
    "metrics.tokens_per_s", "metrics.tflops", "metrics.mfu", "metrics.hbm_tbps", "metrics.peak_mem_bytes",
    "metrics.joules_per_token", "metrics.hbm_util", "metrics.avg_watts",
    "cost.usd_per_mtok", "cost.usd_per_hour", "wall_s",
)
_STEP_TIMES = ("timing.step_s.median",)
_PAIRS = ("timing.step_s.ci95", "cost.usd_per_mtok_ci95")
_TEXTS = ("kernel.preset", "kernel.flop_convention", "backend.device_kind", "backend.device_catalog_key",
          "backend.precision", "created_at", "cost.price_source", "cost.instance")
_TABLES = ("timing", "metrics", "numerics", "cost", "env", "error", "timing.step_s", "kernel.config",
           "backend.settings", "backend.info", "backend.info.device")
_SHARES = ("backend.info.device.chip_share", "backend.info.device.chips_measured")
_WORD_LISTS = ("cost.marks", "timing.unstable")


def get(record: dict, dotted: str) -> Any:
    """The value at a dotted path (``timing.step_s.median``), None where a part is missing or not a table."""
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def number_problem(value: Any) -> str | None:
    """Why ``value`` is not a usable non-negative number, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number, got {type(value).__name__} {_short(value)}"
    try:
        as_float = float(value)
    except OverflowError:
        return "is an integer too large for a float"
    if not math.isfinite(as_float):
        return f"must be finite, got {value}"
    if as_float < 0:
        return f"must be 0 or more, got {value}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def record_problem(record: dict) -> str | None:
    """The first field of ``record`` a report cannot use, and why; None when all are usable."""
    preset = get(record, "kernel.preset")
    if not isinstance(preset, str) or not preset:
        return f"field 'kernel.preset' must be a non-empty string, got {_short(preset)}"
    for name in _TABLES:
        value = get(record, name)
        if value is not None and not isinstance(value, dict):
            return f"field '{name}' must be an object, got {type(value).__name__}"
    for name in _TEXTS:
        value = get(record, name)
        if value is not None and not isinstance(value, str):
            return f"field '{name}' must be a string, got {type(value).__name__} {_short(value)}"
    for name in _NUMBERS:
        value = get(record, name)
        if value is not None and (why := number_problem(value)):
            return f"field '{name}' {why}"
    for name in _STEP_TIMES:
        value = get(record, name)
        if value is not None:
            if why := number_problem(value):
                return f"field '{name}' {why}"
            if not 0 < float(value) < LONGEST_STEP_S:
                return f"field '{name}' must be a step time above 0 and under a week, got {value}"
    for name in _PAIRS:
        value = get(record, name)
        if value is None:
            continue
        if not isinstance(value, list) or len(value) != 2:
            return f"field '{name}' must be a [low, high] pair, got {_short(value)}"
        for item in value:
            if why := number_problem(item):
                return f"field '{name}' {why}"
    samples = get(record, "timing.samples_s")
    if samples is not None:
        if not isinstance(samples, list):
            return f"field 'timing.samples_s' must be a list, got {type(samples).__name__}"
        for item in samples:
            if (why := number_problem(item)) or not 0 < float(item) < LONGEST_STEP_S:
                return f"field 'timing.samples_s' holds {_short(item)}: {why or 'not a step time above 0 and under a week'}"
    count = get(record, "backend.device_count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MOST_DEVICES):
        return f"field 'backend.device_count' must be a whole number from 1 to {MOST_DEVICES:,}, got {_short(count)}"
    for name in _SHARES:  # the fraction of a chip one visible device is
        value = get(record, name)
        if value is not None and (number_problem(value) or not 0 < float(value) <= 1):
            return f"field '{name}' must be a fraction of a chip above 0 and at most 1, got {_short(value)}"
    for name in _WORD_LISTS:
        value = get(record, name)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            return f"field '{name}' must be a list of strings, got {_short(value)}"
    passed = get(record, "numerics.passed")
    if passed is not None and not isinstance(passed, bool):
        return f"field 'numerics.passed' must be true, false or null, got {_short(passed)}"
    errors = get(record, "metrics.errors")
    if errors is not None and not isinstance(errors, list):
        return f"field 'metrics.errors' must be a list, got {type(errors).__name__}"
    return None
