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

Which fields are numbers, strings, tables, flags or word lists is not spelt
here: it is derived from the record's dataclasses (``harness.record_schema``),
so a field the writer adds or renames is checked under its real name.
"""

from __future__ import annotations

import math
from typing import Any

from accelbench.harness.record_schema import RECORD, Field, base_types, item_type, path

LONGEST_STEP_S = 7 * 24 * 3600.0
"""A step longer than a week is not a measurement any case here can make (the longest timeout is hours)."""

MOST_DEVICES = 1_000_000
"""More devices than any cluster has: a corrupted count, not a run."""

_NOT_CHECKED = ("numerics",)
"""Read as written: a failed case's losses and errors may be "nan" (JSON has no NaN), and a loss may be negative."""
_STEP_TIMES = (RECORD.timing.step_s.median,)
_PAIRS = (RECORD.timing.step_s.ci95, RECORD.cost.usd_per_mtok_ci95)
_SAMPLES = (RECORD.timing.samples_s,)
_SHARES = (RECORD.backend.info.device.chip_share, RECORD.backend.info.device.key("chips_measured"))
_SPECIAL = {str(f) for f in _STEP_TIMES + _PAIRS + _SAMPLES + _SHARES} | {"backend.device_count", "kernel.preset"}


def _declared(allowed: set) -> tuple[Field, ...]:
    """The record's fields (harness.record_schema, from the dataclasses) whose declared
    type allows only ``allowed`` (and None), outside the parts read as written."""
    return tuple(f for f in RECORD.leaves()
                 if f.parts[0] not in _NOT_CHECKED and str(f) not in _SPECIAL
                 and (types := base_types(f.kind) - {type(None)}) and types <= allowed)


_TABLES = _declared({dict}) + tuple(f for f in RECORD.leaves() if f.children and f.parts[0] not in _NOT_CHECKED)
_TEXTS = _declared({str})
_NUMBERS = _declared({int, float})
_BOOLS = _declared({bool}) + (RECORD.numerics.passed,)
_WORD_LISTS = tuple(f for f in _declared({list, tuple}) if item_type(f.kind) is str)
_NUMBER_LISTS = tuple(f for f in _declared({list, tuple}) if item_type(f.kind) is float)


def get(record: dict, dotted: "str | Field") -> Any:
    """The value at a field (``RECORD.timing.step_s.median``) or a dotted path checked
    against the schema, None where a part is missing or not a table."""
    return (path(dotted) if isinstance(dotted, str) else dotted).get(record)  # str: a Field of a reloaded module is one too


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
    preset = RECORD.kernel.preset.get(record)
    if not isinstance(preset, str) or not preset:
        return f"field 'kernel.preset' must be a non-empty string, got {_short(preset)}"
    for f in _TABLES:
        value = f.get(record)
        if value is not None and not isinstance(value, dict):
            return f"field '{f}' must be an object, got {type(value).__name__}"
    for f in _TEXTS:
        value = f.get(record)
        if value is not None and not isinstance(value, str):
            return f"field '{f}' must be a string, got {type(value).__name__} {_short(value)}"
    for f in _NUMBERS:
        value = f.get(record)
        if value is not None and (why := number_problem(value)):
            return f"field '{f}' {why}"
    for f in _STEP_TIMES:
        value = f.get(record)
        if value is not None:
            if why := number_problem(value):
                return f"field '{f}' {why}"
            if not 0 < float(value) < LONGEST_STEP_S:
                return f"field '{f}' must be a step time above 0 and under a week, got {value}"
    for f in _PAIRS:
        value = f.get(record)
        if value is None:
            continue
        if not isinstance(value, list) or len(value) != 2:
            return f"field '{f}' must be a [low, high] pair, got {_short(value)}"
        for item in value:
            if why := number_problem(item):
                return f"field '{f}' {why}"
    for f in _SAMPLES:
        samples = f.get(record)
        if samples is not None:
            if not isinstance(samples, list):
                return f"field '{f}' must be a list, got {type(samples).__name__}"
            for item in samples:
                if (why := number_problem(item)) or not 0 < float(item) < LONGEST_STEP_S:
                    return f"field '{f}' holds {_short(item)}: {why or 'not a step time above 0 and under a week'}"
    for f in _NUMBER_LISTS:
        value = f.get(record)
        if value is not None and (not isinstance(value, list) or any(number_problem(v) for v in value)):
            return f"field '{f}' must be a list of numbers of 0 or more, got {_short(value)}"
    count = RECORD.backend.device_count.get(record)
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MOST_DEVICES):
        return f"field 'backend.device_count' must be a whole number from 1 to {MOST_DEVICES:,}, got {_short(count)}"
    for f in _SHARES:  # the fraction of a chip one visible device is
        value = f.get(record)
        if value is not None and (number_problem(value) or not 0 < float(value) <= 1):
            return f"field '{f}' must be a fraction of a chip above 0 and at most 1, got {_short(value)}"
    for f in _WORD_LISTS:
        value = f.get(record)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            return f"field '{f}' must be a list of strings, got {_short(value)}"
    for f in _BOOLS:
        value = f.get(record)
        if value is not None and not isinstance(value, bool):
            return f"field '{f}' must be true, false or null, got {_short(value)}"
    return None
