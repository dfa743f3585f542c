"""What a training job costs, not only a token: ``accelbench report --train-tokens N``.

Per case, at the measured throughput and the record's charged price (``cost.usd_per_hour``):

    run_s    = N / tokens_per_s                      (interval: the step time's 95% interval)
    before_s = setup_s + compile_s + warmup_steps x median step
               (process start to compile; compile and first step; warm-up: paid before the first timed step)
    usd      = usd_per_hour x (before_s + run_s) / 3600

and per workload a break-even: the token count above which a case that costs more before its first
timed step but less per token is the cheaper job,

    N* = (before_usd_A - before_usd_B) / (usd_per_token_B - usd_per_token_A).

Not included (said in the methodology): data loading, checkpoints, evaluation, the numerics-check
steps, restarts, and the instance's time outside the case process. A compile cache
(``backend.info.compile_cache``) would make a second run's compile cheaper: the record says which
cache variables were set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from accelbench.harness.units import TOKENS_MAX, parse_tokens  # noqa: F401 (the report's --train-tokens)


@dataclass(frozen=True)
class JobCost:
    workload: str
    case: str
    tokens: float
    run_s: float
    run_s_ci95: tuple[float, float] | None
    before_s: float
    before_parts: dict[str, float]
    missing: list[str]
    usd_per_hour: float | None
    """The charged price (the chips measured); None: unpriced."""
    compile_cache: list[str] = field(default_factory=list)
    marks: list[str] = field(default_factory=list)
    """The price's marks (cost.marks: what-if, unconfirmed, ...)."""
    before_range_s: tuple[float, float] | None = None
    """Smallest and largest time before the first timed step over pooled runs (--pool-runs); None: one run."""

    @property
    def usd(self) -> float | None:
        return None if self.usd_per_hour is None else self.usd_per_hour * (self.before_s + self.run_s) / 3600

    @property
    def usd_ci95(self) -> tuple[float, float] | None:
        if self.usd_per_hour is None or self.run_s_ci95 is None:
            return None
        return tuple(self.usd_per_hour * (self.before_s + s) / 3600 for s in self.run_s_ci95)  # type: ignore[return-value]

    @property
    def before_usd(self) -> float | None:
        return None if self.usd_per_hour is None else self.usd_per_hour * self.before_s / 3600

    @property
    def usd_per_token(self) -> float | None:
        return None if self.usd_per_hour is None else self.usd_per_hour * self.run_s / 3600 / self.tokens


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def case_label(record: dict) -> str:
    backend = record.get("backend") or {}
    cost = record.get("cost") or {}
    where = cost.get("instance") or backend.get("device_kind") or backend.get("device_catalog_key") or "?"
    devices = backend.get("device_count") or 1
    return f"{backend.get('name', '?')} ({where}{f', {devices} devices' if devices > 1 else ''})"


def job_cost(record: dict, tokens: float) -> JobCost | None:
    """The job's cost for one record; None when it has no timed steps or no tokens."""
    kernel, timing = record.get("kernel") or {}, record.get("timing") or {}
    step = timing.get("step_s") or {}
    median, per_step = _number(step.get("median")), _number(kernel.get("tokens_per_step"))
    if not median or not per_step:
        return None
    run_s = tokens / per_step * median
    ci = step.get("ci95")
    run_ci = (tokens / per_step * ci[0], tokens / per_step * ci[1]) if isinstance(ci, list) and len(ci) == 2 else None
    parts, missing = {}, []
    for key, label in (("setup_s", "process start"), ("compile_s", "compile and first step")):
        value = _number(timing.get(key))
        if value is None:
            missing.append(f"{label} (timing.{key}) not recorded")
        else:
            parts[label] = value
    warmup = timing.get("warmup_steps") or 0
    if warmup:
        parts[f"warm-up ({warmup} steps at the median)"] = warmup * median
    cache = ((record.get("backend") or {}).get("info") or {}).get("compile_cache")
    used = [f"{k}={v}" for k, v in cache.items() if v] if isinstance(cache, dict) else []
    if not isinstance(cache, dict):
        missing.append("compile cache not recorded")
    usd_per_hour = _number((record.get("cost") or {}).get("usd_per_hour"))
    marks = [str(m) for m in (record.get("cost") or {}).get("marks") or []]
    pooled = record.get("pooled") or {}
    runs = [(_number(a) or 0.0) + c for a, c in zip(pooled.get("setup_s_runs") or [], pooled.get("compile_s_runs") or [])
            if _number(c) is not None]
    spread = None
    if len(runs) > 1:  # every pooled run paid its own start: their range is the interval of what a job pays
        spread = (min(runs) + parts.get(f"warm-up ({warmup} steps at the median)", 0.0),
                  max(runs) + parts.get(f"warm-up ({warmup} steps at the median)", 0.0))
    return JobCost(f"{kernel.get('name')}:{kernel.get('preset')}", case_label(record), tokens, run_s, run_ci,
                   sum(parts.values()), parts, missing, usd_per_hour, used, marks, spread)


@dataclass(frozen=True)
class BreakEven:
    workload: str
    cheaper_per_token: str
    cheaper_before: str
    tokens: float
    """Above this many tokens ``cheaper_per_token`` is the cheaper job."""


def break_even(a: JobCost, b: JobCost) -> BreakEven | None:
    """When one case pays more before its first step but less per token: the crossing token count."""
    if a.usd_per_token is None or b.usd_per_token is None or a.before_usd is None or b.before_usd is None:
        return None
    sides = [(a, a.usd_per_token, a.before_usd), (b, b.usd_per_token, b.before_usd)]
    (low, low_rate, low_before), (high, high_rate, high_before) = sorted(sides, key=lambda side: side[1])
    if low_before <= high_before or math.isclose(low_rate, high_rate):
        return None  # one case is cheaper at every length (or they never cross)
    tokens = (low_before - high_before) / (high_rate - low_rate)
    return BreakEven(a.workload, low.case, high.case, tokens)


def jobs(records: list[dict], tokens: float) -> list[JobCost]:
    measured = [r for r in records if r.get("status") == "ok" and not r.get("_published")]
    return [j for j in (job_cost(r, tokens) for r in measured) if j is not None]


def break_evens(all_jobs: list[JobCost]) -> list[BreakEven]:
    """Per workload: the case cheapest per token against each case that is cheaper before the first step."""
    out = []
    for workload in dict.fromkeys(j.workload for j in all_jobs):
        priced = [j for j in all_jobs if j.workload == workload and j.usd_per_token is not None]
        if len(priced) < 2:
            continue
        best = min(priced, key=lambda j: j.usd_per_token or 0.0)  # all priced: none is None
        out += [be for other in priced if other is not best and (be := break_even(best, other)) is not None]
    return out


# ------------------------------------------------------------------ the report section
def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def tokens_text(tokens: float) -> str:
    for unit, size in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if tokens >= size:
            return f"{tokens / size:.4g}{unit}"
    return f"{tokens:.4g}"


def table(records: list[dict], tokens: float):
    """The report's "Training N tokens" table (a ``reports.tables.Table``), or None with no timed case."""
    from accelbench.reports.tables import Table

    found = jobs(records, tokens)
    if not found:
        return None
    rows = []
    for j in found:
        usd = "unpriced" if j.usd is None else f"${j.usd:,.2f}"
        # the house cell format "value (lo–hi) [mark]": HTML puts the interval on its own line, marks as badges
        if j.usd_ci95 is not None:
            usd += f" (${j.usd_ci95[0]:,.2f}–{j.usd_ci95[1]:,.2f})"
        if j.usd is not None:
            usd += "".join(f" [{m}]" for m in j.marks)
        run = _duration(j.run_s) + (f" ({_duration(j.run_s_ci95[0])}–{_duration(j.run_s_ci95[1])})" if j.run_s_ci95 else "")
        before = " + ".join(f"{k} {_duration(v)}" for k, v in j.before_parts.items()) or "none recorded"
        if j.before_range_s:
            before += f"; over the pooled runs {_duration(j.before_range_s[0])}–{_duration(j.before_range_s[1])}"
        rows.append([j.workload, j.case, run, f"{_duration(j.before_s)} ({before})", usd,
                     "; ".join(j.missing + ([f"compile cache: {', '.join(j.compile_cache)}"] if j.compile_cache
                                            else ["no compile cache variable set"] if "compile cache not recorded"
                                            not in j.missing else [])) or "-"])
    notes = [f"Training {tokens_text(tokens)} tokens at each case's measured throughput, on the chips it measured, "
             "at its charged price; (intervals) are from the step time's 95% interval, [marks] the price's. The time before the first "
             "timed step is one measurement per record (no interval), or with --pool-runs the range over the pooled "
             "runs: it is paid once per job.",
             "Not included: data loading, checkpoints, evaluation, numerics-check steps, restarts; a warm compile "
             "cache would shorten a second run's compile."]
    for be in break_evens(found):
        notes.append(f"{be.workload}: {be.cheaper_per_token} is cheaper than {be.cheaper_before} for jobs above "
                     f"{tokens_text(be.tokens)} tokens (it pays more before its first step, less per token).")
    return Table.of_sections(title=f"Training job: {tokens_text(tokens)} tokens", rows=rows, notes=notes,
                 headers=["workload", "case", "training time", "before the first timed step", "cost (95% CI)",
                          "not recorded / cache"], text_columns=(0, 1, 3, 5))
