"""``accelbench compare OLD NEW [--threshold PCT] [--strict]``: did any case get slower?

Cases are matched by case id (the record's file name: kernel, preset,
backend, a hash of any non-default settings, the layout). Each pair gets one
verdict:

* ``slower`` / ``faster`` / ``same``: both sides stable and timed the same
  way, and the 95% interval of the ratio new ÷ old lies wholly above
  ``1 + threshold`` (slower), wholly below ``1 - threshold`` (faster), or
  wholly between them (same);
* ``inconclusive``, with the reason, otherwise: a side flagged UNSTABLE
  (``timing.unstable``: wide interval, two clusters, load from other
  processes, ...), the sides timed differently (timing policy, steps per
  window, precision, device), fewer than ``MIN_WINDOWS`` windows, or an
  interval that reaches past the threshold (too noisy to tell);
* ``now failing`` (ok in OLD, not in NEW), ``failed`` (failed in both),
  ``now ok``, ``not run in either`` (skipped or unavailable in both).

The interval is a percentile bootstrap: each record's per-window step times
(``timing.samples_s``) are resampled with replacement, independently, and the
ratio of the two resampled medians is taken (Efron & Tibshirani 1993, ch.
13). Records without samples fall back to their stored 95% intervals: the
ratio's interval is then [new lo ÷ old hi, new hi ÷ old lo], wider than the
bootstrap's.

Exit status (``Comparison.exit_status``): 1 for a ``slower`` case, a case that
failed in NEW, or a case of OLD missing from NEW; with ``--strict`` also for an
inconclusive case; else 0. An OLD without records is ``load.NothingFound``.

**Drift (``--recheck OLD_AGAIN``).** A shared machine's speed can move
between two runs a minute apart (on the 2-core machine two identical runs of
gpt2:tiny on torch-cpu differed by -20.6% and, in another pair, +50.2%, both
runs stable each time: ci/false_alarms.py): two stable runs of the same code
then differ past the threshold. With the base run again after
NEW (A, B, A), a case keeps a ``slower``/``faster``/``same`` verdict only when
OLD and OLD_AGAIN are ``same`` and NEW gets that verdict against both;
otherwise it is ``inconclusive``, naming the drift.

To add a check that makes a pair inconclusive, append a function to
``CHECKS``; to pool several records per case, replace ``_by_case``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from accelbench.harness.records import RecordError
from accelbench.harness.stats import ratio_of_medians_ci
from accelbench.reports import load
from accelbench.suggest import plural

DEFAULT_THRESHOLD_PCT = 5.0
MIN_WINDOWS = 10
"""As harness.timing.MIN_WINDOWS: with fewer windows the bootstrap interval of a median is about the min and max."""

SLOWER, FASTER, SAME, INCONCLUSIVE = "slower", "faster", "same", "inconclusive"
NOW_FAILING, FAILED, NOW_OK, NOT_RUN = "now failing", "failed", "now ok", "not run in either"
FAILING_VERDICTS = (SLOWER, NOW_FAILING, FAILED)
"""Verdicts that make `compare` exit 1."""


@dataclass
class CaseChange:
    case_id: str
    old_median_s: float | None
    new_median_s: float | None
    change: float | None  # new/old - 1
    ci: tuple[float, float] | None  # of the change
    verdict: str
    note: str = ""
    """Why the verdict (the reason a case is inconclusive or failing), or how the interval was made."""

    @property
    def regression(self) -> bool:
        return self.verdict in FAILING_VERDICTS


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
    def inconclusive(self) -> list[CaseChange]:
        return [c for c in self.changes if c.verdict == INCONCLUSIVE]

    @property
    def failed(self) -> bool:
        """Exit 1: a slower or failed case, an empty NEW, or a case of OLD that NEW lacks."""
        return bool(self.regressions or self.new_empty or self.only_old)

    def exit_status(self, strict: bool = False) -> int:
        return 1 if self.failed or (strict and self.inconclusive) else 0


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


# ------------------------------------------------- reasons a pair is inconclusive
def _unstable(old: dict, new: dict) -> str | None:
    for side, record in (("OLD", old), ("NEW", new)):
        reasons = (record.get("timing") or {}).get("unstable") or []
        if reasons:
            return f"UNSTABLE in {side}: {reasons[0]}" + (f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else "")
    return None


def _how_timed(record: dict) -> dict[str, object]:
    timing, backend = record.get("timing") or {}, record.get("backend") or {}
    return {"timing policy": (timing.get("policy") or {}).get("name"), "steps per window": timing.get("steps"),
            "precision": backend.get("precision"), "device": backend.get("device_kind"),
            "devices": backend.get("device_count")}


def _timed_differently(old: dict, new: dict) -> str | None:
    a, b = _how_timed(old), _how_timed(new)
    differ = [f"{what} {a[what]} → {b[what]}" for what in a if a[what] != b[what]]
    return "timed differently: " + ", ".join(differ) if differ else None


def _too_few_windows(old: dict, new: dict) -> str | None:
    for side, record in (("OLD", old), ("NEW", new)):
        timing = record.get("timing") or {}
        windows = len(timing.get("samples_s") or []) or timing.get("repeats") or 0
        if windows < MIN_WINDOWS:
            return f"too few windows: {windows} in {side} (at least {MIN_WINDOWS})"
    return None


CHECKS: list[Callable[[dict, dict], str | None]] = [_timed_differently, _too_few_windows, _unstable]
"""Each returns why the pair of ok records cannot be judged, or None; the first reason found is reported."""


def _status_verdict(case: str, old: dict, new: dict) -> CaseChange | None:
    old_ok, new_ok = old.get("status") == "ok", new.get("status") == "ok"
    if old_ok and new_ok:
        return None
    err = new.get("error") or {}
    why = f"{new.get('status')}: {err.get('type')}: {err.get('message')}" if new.get("status") == "failed" \
        else f"NEW status {new.get('status')}"
    if old_ok:
        return CaseChange(case, None, None, None, None, NOW_FAILING, why)
    if new_ok:
        return CaseChange(case, None, None, None, None, NOW_OK, f"OLD status {old.get('status')}")
    verdict = FAILED if new.get("status") == "failed" else NOT_RUN
    return CaseChange(case, None, None, None, None, verdict, f"{why}; OLD status {old.get('status')}")


def compare_case(case: str, old: dict, new: dict, threshold: float) -> CaseChange:
    if (by_status := _status_verdict(case, old, new)) is not None:
        return by_status
    old_med, old_samples, old_ci = _median_and_samples(old)
    new_med, new_samples, new_ci = _median_and_samples(new)
    if not old_med or not new_med:
        return CaseChange(case, old_med, new_med, None, None, INCONCLUSIVE, "a record has no median step time")
    ratio = new_med / old_med
    pooled = old.get("pooled") or new.get("pooled")  # runs pooled: their two-level intervals, not flat windows
    if len(old_samples) >= 2 and len(new_samples) >= 2 and not pooled:
        lo, hi = ratio_of_medians_ci(old_samples, new_samples)
        note = f"bootstrap over {len(old_samples)} and {len(new_samples)} windows"
    elif old_ci and new_ci and min(old_ci) > 0:
        lo, hi = min(new_ci) / max(old_ci), max(new_ci) / min(old_ci)
        note = ("from the pooled runs' two-level 95% intervals" if pooled else "from the stored 95% intervals (no samples)")
    else:
        lo = hi = ratio
        note = "no samples or intervals: the change has no error bar"
    change = CaseChange(case, old_med, new_med, ratio - 1, (lo - 1, hi - 1), INCONCLUSIVE, note)
    if (reason := next((r for check in CHECKS if (r := check(old, new))), None)) is not None:
        change.note = reason
    elif lo > 1 + threshold:
        change.verdict = SLOWER
    elif hi < 1 - threshold:
        change.verdict = FASTER
    elif lo >= 1 - threshold and hi <= 1 + threshold:
        change.verdict = SAME
    else:
        change.note = (f"too noisy to tell: the 95% interval {_pct(lo - 1)} to {_pct(hi - 1)} reaches past the "
                       f"±{threshold * 100:g}% threshold ({note})")
    return change


JUDGED = (SLOWER, FASTER, SAME)


def rechecked(change: CaseChange, old: dict, new: dict, old_again: dict | None, threshold: float) -> CaseChange:
    """``change`` (NEW against OLD) kept only when the base's re-run agrees (A, B, A): OLD and OLD_AGAIN
    the same within the threshold, and NEW's verdict against OLD_AGAIN the same as against OLD."""
    if change.verdict not in JUDGED:
        return change
    if old_again is None:
        change.verdict, change.note = INCONCLUSIVE, "not in the base's re-run (--recheck): drift cannot be ruled out"
        return change
    drift = compare_case(change.case_id, old, old_again, threshold)
    if drift.verdict != SAME:
        why = drift.note if drift.verdict == INCONCLUSIVE else (
            f"{_pct(drift.change)}, 95% CI {_pct(drift.ci[0])} to {_pct(drift.ci[1])}" if drift.ci else drift.verdict)
        change.verdict, change.note = INCONCLUSIVE, f"the machine drifted: the base's re-run against the base: {why}"
        return change
    again = compare_case(change.case_id, old_again, new, threshold)
    if again.verdict != change.verdict:
        change.verdict, change.note = INCONCLUSIVE, (
            f"NEW is {change.verdict} against the base but {again.verdict} against its re-run (--recheck)")
    return change


def compare_folders(old_dir, new_dir, threshold_pct: float = DEFAULT_THRESHOLD_PCT,
                    pooled_old: list | None = None, recheck_dir=None) -> Comparison:
    """``pooled_old``: several earlier runs whose records of each case are pooled as OLD (reports/pooling.py).
    ``recheck_dir``: the base run again, after NEW (see the module's "Drift")."""
    if not threshold_pct >= 0:
        raise RecordError(f"--threshold {threshold_pct}: must be a percentage of 0 or more, e.g. 5")
    old_loaded, new_loaded = load.load_folders(pooled_old or [old_dir], all_runs=bool(pooled_old)), load.load_folders([new_dir])
    if pooled_old:
        from accelbench.reports.pooling import pool_records

        old_loaded.records = pool_records(old_loaded.records)[0]
    load.require_records(old_loaded, "nothing to compare: OLD has ")
    result = Comparison(str(old_dir), str(new_dir), threshold_pct / 100,
                        warnings=old_loaded.warnings + new_loaded.warnings)
    old_cases, new_cases = _by_case(old_loaded), _by_case(new_loaded)
    again_cases = None
    if recheck_dir is not None:
        again_loaded = load.load_folders([recheck_dir])
        load.require_records(again_loaded, "nothing to recheck against: the base's re-run has ")
        result.warnings += again_loaded.warnings
        again_cases = _by_case(again_loaded)
    for case in sorted(old_cases.keys() & new_cases.keys()):
        change = compare_case(case, old_cases[case], new_cases[case], result.threshold)
        if again_cases is not None:
            change = rechecked(change, old_cases[case], new_cases[case], again_cases.get(case), result.threshold)
        result.changes.append(change)
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
    lines = [f"median step time, {c.new} against {c.old}; threshold ±{c.threshold * 100:g}% on the 95% bootstrap "
             f"interval of new/old"]
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
        if ch.verdict not in (SAME, FASTER) and ch.note:  # why it could not be judged, or what a slowdown rests on
            lines.append(f"{ch.verdict}: {ch.case_id}: {ch.note}")
    if c.only_old:
        lines.append(f"only in {c.old}: " + ", ".join(c.only_old))
    if c.only_new:
        lines.append(f"only in {c.new}: " + ", ".join(c.only_new))
    if not c.changes:
        lines.append("no case is in both folders")
    counts = {v: sum(ch.verdict == v for ch in c.changes) for v in dict.fromkeys(ch.verdict for ch in c.changes)}
    lines.append(f"{plural(len(c.changes), 'case')} compared"
                 + (": " + ", ".join(f"{n} {v}" for v, n in counts.items()) if counts else ""))
    return "\n".join(lines)


def regression_lines(c: Comparison, strict: bool = False) -> list[str]:
    out = []
    if c.new_empty:
        out.append(f"regression: {c.new} holds no result records; {plural(len(c.only_old), 'case')} of {c.old} "
                   f"missing: {', '.join(c.only_old)}")
    elif c.only_old:
        out.append(f"regression: {plural(len(c.only_old), 'case')} of {c.old} missing from {c.new}: "
                   f"{', '.join(c.only_old)}")
    for ch in c.regressions:
        if ch.verdict == SLOWER:
            out.append(f"regression: {ch.case_id} is {ch.change * 100:.1f}% slower (95% CI {_pct(ch.ci[0])} to "
                       f"{_pct(ch.ci[1])}, wholly past the {c.threshold * 100:g}% threshold)")
        elif ch.verdict == NOW_FAILING:
            out.append(f"regression: {ch.case_id} ran ok in {c.old} but is {ch.note}")
        else:
            out.append(f"regression: {ch.case_id} failed in {c.new}: {ch.note}")
    if strict:
        out += [f"inconclusive (--strict): {ch.case_id}: {ch.note}" for ch in c.inconclusive]
    return out
