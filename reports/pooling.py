"""``accelbench report --pool-runs``: several runs of the same case (run history, other hosts) as one row.

Two instances of the same type differ, and one run's interval says nothing about that. Pooling puts
every timed window of every run of a case into one record whose interval comes from a two-level
bootstrap (Davison & Hinkley 1997, section 3.8, resampling hierarchical data): each resample draws
the runs with replacement, then the windows within each drawn run with replacement, and takes the
median of all the windows drawn; the 2.5th and 97.5th percentiles of those medians are the interval.
With one run it is exactly that run's own interval (``harness.stats.bootstrap_median_ci``: same seed,
same draws). With 2 or 3 runs, one run is every draw of a resample with probability 1/K^(K-1) per run
(1/9 for 3 runs, 1/27 each extreme: over 2.5%), so the percentile bounds cannot leave the extreme
runs' own bootstrap distributions and fall just inside their medians: below ``FEW_RUNS`` runs the
interval is widened to the extreme runs' own 95% intervals, and the row says so. The pooled record says how many runs and hosts it holds, and the spread between runs'
medians beside the spread within a run (its interval's width), so a reader sees when
instance-to-instance variation dominates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from accelbench.harness.stats import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, bootstrap_median_ci, summarize


FEW_RUNS = 4
"""From 4 runs up, one extreme run fills a resample with probability 1/4^4 = 0.4% < 2.5%: no widening."""


def two_level_median_ci(runs: list, resamples: int = BOOTSTRAP_RESAMPLES,
                        seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95% interval of the median step time over runs: resample runs, then windows within each."""
    runs = [np.asarray(r, dtype=np.float64) for r in runs]
    if not runs or any(r.size == 0 for r in runs):
        raise ValueError("every run needs at least one timed window")
    if len(runs) == 1 and runs[0].size == 1:
        return float(runs[0][0]), float(runs[0][0])
    pick = np.random.default_rng(seed + 1).integers(0, len(runs), (resamples, len(runs)))  # level 1: runs
    rng = np.random.default_rng(seed)  # level 2: windows; one run draws exactly what bootstrap_median_ci draws
    width = max(r.size for r in runs)
    drawn = np.full((resamples, len(runs), width), np.nan)
    for slot in range(len(runs)):
        for j, x in enumerate(runs):
            rows = np.nonzero(pick[:, slot] == j)[0]
            if rows.size:
                drawn[rows, slot, :x.size] = x[rng.integers(0, x.size, (rows.size, x.size))]
    medians = np.nanmedian(drawn.reshape(resamples, -1), axis=1)
    lo, hi = np.percentile(medians, [2.5, 97.5])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Pooled:
    case: str
    runs: int
    hosts: int | None
    """Distinct hosts (backend.info.host.instance_id, else env.host); None when no record names its host."""
    median_s: float
    ci95: tuple[float, float]
    run_medians: list[float]
    between_run: float
    """(largest - smallest run median) / pooled median."""
    within_run: float
    """Median over runs of (its interval's width / its median)."""
    widened: bool = False
    """Fewer than FEW_RUNS runs: the interval was widened to the extreme runs' own intervals."""


def _host(record: dict) -> str | None:
    host = ((record.get("backend") or {}).get("info") or {}).get("host") or {}
    return host.get("instance_id") or (record.get("env") or {}).get("host")


def pool(group: list[dict]) -> tuple[dict, Pooled]:
    """One record for a case's runs (the newest's fields, every run's windows) and what was pooled."""
    from accelbench.reports.training_cost import case_label

    group = sorted(group, key=lambda r: str(r.get("created_at") or ""))
    samples = [r["timing"]["samples_s"] for r in group]
    everything = summarize(np.concatenate([np.asarray(s, dtype=np.float64) for s in samples]))
    ci = two_level_median_ci(samples)
    medians = [float(np.median(s)) for s in samples]
    within = [bootstrap_median_ci(s) for s in samples]
    widened = 1 < len(group) < FEW_RUNS
    if widened:  # see the module's docstring: few runs cannot put a percentile bound outside the extremes
        ci = (min(ci[0], *(lo for lo, _ in within)), max(ci[1], *(hi for _, hi in within)))
    hosts = {h for h in map(_host, group) if h}
    info = Pooled(case_label(group[-1]), len(group), len(hosts) or None, everything.median, ci, medians,
                  (max(medians) - min(medians)) / everything.median,
                  float(np.median([(hi - lo) / m for (lo, hi), m in zip(within, medians)])), widened)
    out = copy.deepcopy(group[-1])
    old_median = out["timing"]["step_s"]["median"]
    out["timing"]["samples_s"] = [float(x) for s in samples for x in s]
    out["timing"]["step_s"] = {**out["timing"]["step_s"], "median": everything.median, "ci95": list(ci),
                               "n": everything.n, "min": everything.min, "max": everything.max}
    scale = old_median / everything.median  # throughput-like figures go as 1/step time
    for key in ("tokens_per_s", "tflops", "mfu", "hbm_tbps", "hbm_util"):
        if isinstance((out.get("metrics") or {}).get(key), (int, float)):
            out["metrics"][key] *= scale
    cost = out.get("cost") or {}
    if isinstance(cost.get("usd_per_mtok"), (int, float)):
        per_step = cost["usd_per_mtok"] / old_median  # $/1M tokens is proportional to the step time
        cost["usd_per_mtok"] = per_step * everything.median
        cost["usd_per_mtok_ci95"] = [per_step * ci[0], per_step * ci[1]]
    out["pooled"] = {"runs": info.runs, "hosts": info.hosts, "run_ids": [r.get("run_id") for r in group],
                     "run_medians_s": medians, "between_run_spread": info.between_run,
                     "within_run_spread": info.within_run, "method": "two-level bootstrap: runs, then windows",
                     "widened_to_run_intervals": widened,
                     "setup_s_runs": [(r.get("timing") or {}).get("setup_s") for r in group],
                     "compile_s_runs": [(r.get("timing") or {}).get("compile_s") for r in group]}
    return out, info


def pool_records(records: list[dict]) -> tuple[list[dict], list[Pooled]]:
    """Every case with more than one timed run pooled into one record; the others as they were."""
    from accelbench.reports.load import same_case_key

    groups: dict[str, list[dict]] = {}
    for r in records:
        timed = r.get("status") == "ok" and not r.get("_published") and (r.get("timing") or {}).get("samples_s")
        groups.setdefault(same_case_key(r) if timed else f"apart-{id(r)}", []).append(r)
    out, pooled = [], []
    for group in groups.values():
        if len(group) > 1:
            record, info = pool(group)
            out.append(record)
            pooled.append(info)
        else:
            out += group
    return out, pooled


def table(pooled: list[Pooled]):
    """The report's "Runs pooled" table (a ``reports.tables.Table``), or None when nothing was pooled."""
    from accelbench.reports.tables import Table

    if not pooled:
        return None
    rows = [[p.case, f"{p.runs} runs" + (" (few: widened)" if p.widened else ""), "unknown" if p.hosts is None else str(p.hosts),
             f"{p.median_s * 1e3:.4g} [{p.ci95[0] * 1e3:.4g}–{p.ci95[1] * 1e3:.4g}]",
             ", ".join(f"{m * 1e3:.4g}" for m in p.run_medians), f"{p.between_run:.1%}", f"{p.within_run:.1%}",
             "between runs" if p.between_run > p.within_run else "within a run"] for p in pooled]
    return Table.of_sections(title="Runs pooled (--pool-runs)", rows=rows, text_columns=(0, 7),
                 headers=["case", "runs", "hosts", "median step ms [95% CI]", "run medians (ms)",
                          "spread between runs", "spread within a run", "larger spread"],
                 notes=["Each row is one case's runs pooled: the interval is a two-level bootstrap (resample runs, "
                        "then windows within each), so it includes run-to-run (instance-to-instance) variation. "
                        "Spread between runs = (largest - smallest run median) / pooled median; within a run = the "
                        "median run's 95% interval width / its median. With 2 or 3 runs the interval is widened to "
                        "the extreme runs' own intervals (few: widened): so few runs cannot place a percentile "
                        "bound outside them."])
