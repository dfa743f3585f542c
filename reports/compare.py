"""``accelbench compare OLD NEW [--threshold PCT]``: did any case get slower?

Cases are matched by case id (the record's file name: kernel, preset,
backend and a hash of any non-default settings). For each pair the change is
the ratio of median step times, new ÷ old, with a 95% percentile-bootstrap
interval: resample each record's timed-step samples (``timing.samples_s``)
with replacement, independently, and take the ratio of the two resampled
medians (Efron & Tibshirani 1993, ch. 13). A case is a regression when its
change is past the threshold *and* the whole interval lies above 1, that is
the slowdown is larger than the threshold and outside the noise. A case that
ran ok in OLD and not in NEW is a regression too. Records without samples
fall back to their stored 95% intervals: the ratio's interval is then
[new lo ÷ old hi, new hi ÷ old lo], wider than the bootstrap's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from accelbench.harness.records import RecordError
from accelbench.reports import load

DEFAULT_THRESHOLD_PCT = 5.0
RESAMPLES = 5000
SEED = 0

SLOWER, FASTER, UNCHANGED, NOISY = "slower", "faster", "unchanged", "within noise"
NOW_FAILING, NOW_OK, FAILING, NO_TIMES = "now failing", "now ok", "not ok in either", "no step times"


@dataclass
class CaseChange:
    case_id: str
    old_median_s: float | None
    new_median_s: float | None
    change: float | None  # new/old - 1
    ci: tuple[float, float] | None  # of the change
    verdict: str
    note: str = ""

    @property
    def regression(self) -> bool:
        return self.verdict in (SLOWER, NOW_FAILING)


@dataclass
class Comparison:
    old: str
    new: str
    threshold: float  # a fraction: 0.05 for 5%
    changes: list[CaseChange] = field(default_factory=list)
    only_old: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def new_empty(self) -> bool:
        """NEW holds no usable record at all (every case of NEW is in ``changes`` or ``only_new``)."""
        return not self.changes and not self.only_new

    @property
    def regressions(self) -> list[CaseChange]:
        return [c for c in self.changes if c.regression]

    @property
    def failed(self) -> bool:
        """Exit 1: a regression, an empty NEW, or a case of OLD that NEW lacks."""
        return bool(self.regressions or self.new_empty or self.only_old)


def ratio_of_medians_ci(old, new, resamples: int = RESAMPLES, seed: int = SEED) -> tuple[float, float]:
    """95% percentile-bootstrap interval of median(new) ÷ median(old), the two
    sample sets resampled independently (they are not paired)."""
    a = np.asarray(old, dtype=np.float64)
    b = np.asarray(new, dtype=np.float64)
    rng = np.random.default_rng(seed)
    med_a = np.median(a[rng.integers(0, a.size, (resamples, a.size))], axis=1)
    med_b = np.median(b[rng.integers(0, b.size, (resamples, b.size))], axis=1)
    lo, hi = np.percentile(med_b / med_a, [2.5, 97.5])
    return float(lo), float(hi)


def _by_case(loaded: load.Loaded) -> dict[str, dict]:
    cases = {}
    for record in loaded.records:
        cases[load.case_id(record)] = record  # a later folder's record wins
    return cases


def _median_and_samples(record) -> tuple[float | None, list[float], tuple[float, float] | None]:
    timing = record.get("timing") or {}
    step = timing.get("step_s") or {}
    samples = [float(x) for x in timing.get("samples_s") or [] if isinstance(x, (int, float)) and x > 0]
    median = step.get("median")
    ci = step.get("ci95")
    ci = (float(ci[0]), float(ci[1])) if isinstance(ci, (list, tuple)) and len(ci) == 2 else None
    if samples and median is None:
        median = float(np.median(samples))
    return (float(median) if isinstance(median, (int, float)) else None), samples, ci


def compare_case(case: str, old: dict, new: dict, threshold: float) -> CaseChange:
    old_ok, new_ok = old.get("status") == "ok", new.get("status") == "ok"
    if not (old_ok and new_ok):
        if old_ok:
            err = new.get("error") or {}
            return CaseChange(case, None, None, None, None, NOW_FAILING,
                              f"{new.get('status')}: {err.get('type')}: {err.get('message')}")
        verdict = NOW_OK if new_ok else FAILING
        return CaseChange(case, None, None, None, None, verdict, f"OLD status {old.get('status')}")
    old_med, old_samples, old_ci = _median_and_samples(old)
    new_med, new_samples, new_ci = _median_and_samples(new)
    if not old_med or not new_med:
        return CaseChange(case, old_med, new_med, None, None, NO_TIMES, "a record has no median step time")
    ratio = new_med / old_med
    pooled = old.get("pooled") or new.get("pooled")  # runs pooled: their two-level intervals, not flat windows
    if len(old_samples) >= 2 and len(new_samples) >= 2 and not pooled:
        lo, hi = ratio_of_medians_ci(old_samples, new_samples)
        note = f"bootstrap over {len(old_samples)} and {len(new_samples)} samples"
    elif old_ci and new_ci and min(old_ci) > 0:
        lo, hi = min(new_ci) / max(old_ci), max(new_ci) / min(old_ci)
        note = ("from the pooled runs' two-level 95% intervals" if pooled else "from the stored 95% intervals (no samples)")
    else:
        lo = hi = ratio
        note = "no samples or intervals: the change has no error bar"
    change = ratio - 1
    if change > threshold and lo > 1:
        verdict = SLOWER
    elif change < -threshold and hi < 1:
        verdict = FASTER
    elif abs(change) > threshold:
        verdict = NOISY
    else:
        verdict = UNCHANGED
    devices = [(r.get("backend") or {}).get("device_kind") for r in (old, new)]
    if devices[0] != devices[1]:
        note += f"; device differs: {devices[0]} → {devices[1]}"
    return CaseChange(case, old_med, new_med, change, (lo - 1, hi - 1), verdict, note)


def compare_folders(old_dir, new_dir, threshold_pct: float = DEFAULT_THRESHOLD_PCT,
                    pooled_old: list | None = None) -> Comparison:
    """``pooled_old``: several earlier runs whose records of each case are pooled as OLD (reports/pooling.py)."""
    if not threshold_pct >= 0:
        raise RecordError(f"--threshold {threshold_pct}: must be a percentage of 0 or more, e.g. 5")
    old_loaded, new_loaded = load.load_folders(pooled_old or [old_dir], all_runs=bool(pooled_old)), load.load_folders([new_dir])
    if pooled_old:
        from accelbench.reports.pooling import pool_records

        old_loaded.records = pool_records(old_loaded.records)[0]
    result = Comparison(str(old_dir), str(new_dir), threshold_pct / 100,
                        warnings=old_loaded.warnings + new_loaded.warnings)
    old_cases, new_cases = _by_case(old_loaded), _by_case(new_loaded)
    for case in sorted(old_cases.keys() & new_cases.keys()):
        result.changes.append(compare_case(case, old_cases[case], new_cases[case], result.threshold))
    result.only_old = sorted(old_cases.keys() - new_cases.keys())
    result.only_new = sorted(new_cases.keys() - old_cases.keys())
    from accelbench.reports.env_diff import env_differences  # one warning per env field that changed

    result.warnings += env_differences(list(old_cases.values()), list(new_cases.values()), str(old_dir), str(new_dir))
    return result


def _pct(x: float) -> str:
    return f"{x * 100:+.1f}%"


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x * 1e3:.4g}"


def format_text(c: Comparison) -> str:
    lines = [f"median step time, {c.new} against {c.old}; threshold {c.threshold * 100:g}%, "
             f"95% bootstrap interval of the ratio of medians"]
    rows = [("case", "old ms", "new ms", "change", "95% CI", "verdict")]
    for ch in c.changes:
        ci = f"[{_pct(ch.ci[0])}, {_pct(ch.ci[1])}]" if ch.ci else "–"
        verdict = ch.verdict.upper() if ch.regression else ch.verdict
        rows.append((ch.case_id, _ms(ch.old_median_s), _ms(ch.new_median_s),
                     _pct(ch.change) if ch.change is not None else "–", ci, verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    for ch in c.changes:
        if ch.note and ch.verdict not in (UNCHANGED,):
            lines.append(f"note: {ch.case_id}: {ch.note}")
    if c.only_old:
        lines.append(f"only in {c.old}: " + ", ".join(c.only_old))
    if c.only_new:
        lines.append(f"only in {c.new}: " + ", ".join(c.only_new))
    if not c.changes:
        lines.append("no case is in both folders")
    return "\n".join(lines)


def regression_lines(c: Comparison) -> list[str]:
    out = []
    if c.new_empty:
        out.append(f"regression: {c.new} holds no result records; {len(c.only_old)} case(s) of {c.old} missing: "
                   f"{', '.join(c.only_old)}")
    elif c.only_old:
        out.append(f"regression: {len(c.only_old)} case(s) of {c.old} missing from {c.new}: {', '.join(c.only_old)}")
    for ch in c.regressions:
        if ch.verdict == SLOWER:
            out.append(f"regression: {ch.case_id} is {ch.change * 100:.1f}% slower (95% CI {_pct(ch.ci[0])} to "
                       f"{_pct(ch.ci[1])}), past the {c.threshold * 100:g}% threshold")
        else:
            out.append(f"regression: {ch.case_id} ran ok in {c.old} but is {ch.note}")
    return out
