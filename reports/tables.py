"""The headline tables: one per workload (kernel:preset), one row per case
that ran, formatted as strings both the Markdown and the HTML renderers use.

Every figure comes from a record field; a field that is null (not measured,
no price) is shown as "–" and explained in the methodology section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from accelbench.harness.records import RecordError

MISSING = "–"


class ReportError(RecordError):
    """Bad report input (an unknown --baseline): exit 2 with one line."""


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    flagged: list[bool] = field(default_factory=list)
    """Per row: a figure in it is not to be trusted (see the "checks" cell)."""
    text_columns: tuple[int, ...] = (0, 1, 2, 11)
    """Columns of words, aligned left; the rest are figures, aligned right."""


@dataclass
class Failure:
    workload: str
    backend: str
    status: str
    error_type: str
    message: str


HEADERS = [
    "backend", "device", "precision", "step (ms), 95% CI", "tokens/s, 95% CI", "TFLOP/s", "MFU",
    "$/1M tokens, 95% CI", "J/token", "compile (s)", "× baseline", "checks",
]


# --------------------------------------------------------------- formatting
def value(row, column):
    """A cell of a DataFrame row, None when absent or NaN."""
    v = row.get(column) if hasattr(row, "get") else None
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def number(v, digits: int = 3) -> str:
    """Three significant figures, thousands separated: 1,234,567 / 12.3 / 0.00123."""
    if v is None:
        return MISSING
    v = float(v)
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    if abs(v) >= 10 ** digits:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def interval(pair, scale: float = 1.0) -> tuple[float, float] | None:
    if isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, (int, float)) for x in pair):
        return float(pair[0]) * scale, float(pair[1]) * scale
    return None


def with_interval(v, ci: tuple[float, float] | None) -> str:
    if v is None:
        return MISSING
    if ci is None:
        return number(v)
    return f"{number(v)} ({number(min(ci))}–{number(max(ci))})"


def percent(v) -> str:
    if v is None:
        return MISSING
    text = f"{float(v) * 100:.3g}%"
    return text + " (over 100%: an error)" if v > 1 else text


# --------------------------------------------------------------- selection
def ok_rows(df):
    return df[df["status"] == "ok"] if not df.empty else df


def choose_baseline(df, requested: str | None) -> str | None:
    """The backend the "× baseline" column divides by: the one asked for
    (it must appear among the ok results), else the backend present in the
    most workloads (ties: alphabetical), else None."""
    ok = ok_rows(df)
    present = sorted(set(ok["backend.name"])) if not ok.empty else []
    if requested is not None:
        if requested not in present:
            accepted = ", ".join(present) or "none (no ok results)"
            raise ReportError(f"--baseline {requested}: no ok result from that backend; backends in these results: {accepted}")
        return requested
    if not present:
        return None
    counts = ok.groupby("backend.name")["workload"].nunique()
    return sorted(present, key=lambda b: (-int(counts[b]), b))[0]


def variant_labels(rows) -> dict:
    """Label each case of one workload so that cases of the same backend with
    different settings, kernel configs, device counts or folders stay apart:
    ``torch-cpu (compile=True)``."""
    labels = {}
    config_keys = _differing([r["kernel_config"] for _, r in rows.iterrows()])
    folders = set(rows["folder"])
    for backend, group in rows.groupby("backend.name", sort=False):
        setting_keys = _differing([r["backend_settings"] for _, r in group.iterrows()])
        for index, r in group.iterrows():
            extras = [f"{k}={r['backend_settings'].get(k)}" for k in setting_keys]
            extras += [f"{k}={r['kernel_config'].get(k)}" for k in config_keys]
            if len(folders) > 1:
                extras.append(f"run {r['folder']}")
            labels[index] = f"{backend} ({', '.join(extras)})" if extras else str(backend)
    return labels


def _differing(dicts: list[dict]) -> list[str]:
    keys = sorted({k for d in dicts for k in d})
    return [k for k in keys if len({repr(d.get(k)) for d in dicts}) > 1]


# --------------------------------------------------------------- tables
def headline_tables(df, baseline: str | None) -> list[Table]:
    ok = ok_rows(df)
    if ok.empty:
        return []
    tables = []
    for workload in sorted(set(ok["workload"])):
        rows = ok[ok["workload"] == workload].copy()
        rows["_median"] = [value(r, "timing.step_s.median") or math.inf for _, r in rows.iterrows()]
        rows = rows.sort_values(["_median", "backend.name"])
        labels = variant_labels(rows)
        base = _baseline_median(rows, baseline)
        body = [_row(r, labels[i], base, baseline) for i, r in rows.iterrows()]
        flagged = [is_flagged(r) for _, r in rows.iterrows()]
        notes = []
        if baseline and base is None:
            notes.append(f"no ok result from the baseline backend {baseline} for this workload")
        first = rows.iloc[0]
        tokens = value(first, "kernel.tokens_per_step")
        size = f"{number(tokens)} tokens per step" if tokens else "a micro kernel: no tokens, FLOP/s and bytes/s only"
        flops = value(first, "kernel.flops_per_step")
        if flops:
            size += f", {number(flops)} FLOP per step ({value(first, 'kernel.flop_convention') or 'convention not recorded'})"
        notes.insert(0, size)
        tables.append(Table(title=workload, headers=list(HEADERS), rows=body, notes=notes, flagged=flagged))
    return tables


def _baseline_median(rows, baseline: str | None) -> float | None:
    if baseline is None:
        return None
    base = rows[rows["backend.name"] == baseline]
    if base.empty:
        return None
    # Several cases of the baseline backend (settings varied): the one with the
    # plain case id (default settings) when there is one, else the first.
    plain = base[~base["case_id"].str.contains("--.*--", regex=True)]
    chosen = (plain if not plain.empty else base).iloc[0]
    return value(chosen, "timing.step_s.median")


def _row(r, label: str, base_median: float | None, baseline: str | None) -> list[str]:
    median = value(r, "timing.step_s.median")
    step_ci = interval(value(r, "timing.step_s.ci95"))
    tokens_per_step = value(r, "kernel.tokens_per_step")
    tokens_ci = None
    if tokens_per_step and step_ci and min(step_ci) > 0:
        tokens_ci = (tokens_per_step / max(step_ci), tokens_per_step / min(step_ci))
    device = value(r, "backend.device_kind") or MISSING
    count = value(r, "backend.device_count")
    if count and int(count) > 1:
        device = f"{device} ×{int(count)}"
    if base_median and median:
        ratio = base_median / median
        speedup = f"{ratio:#.3g}×" + (" (baseline)" if r["backend.name"] == baseline and abs(ratio - 1) < 1e-12 else "")
    else:
        speedup = MISSING
    return [
        label,
        str(device),
        str(value(r, "backend.precision") or MISSING),
        with_interval(median * 1e3 if median else None, interval(value(r, "timing.step_s.ci95"), 1e3)),
        with_interval(value(r, "metrics.tokens_per_s"), tokens_ci),
        number(value(r, "metrics.tflops")),
        percent(value(r, "metrics.mfu")),
        with_interval(value(r, "cost.usd_per_mtok"), interval(value(r, "cost.usd_per_mtok_ci95")))
        + "".join(f" [{m}]" for m in (value(r, "cost.marks") or []) if isinstance(m, str)),  # harness/cost.py MARKS
        number(value(r, "metrics.joules_per_token")),
        number(value(r, "timing.compile_s")),
        speedup,
        checks(r),
    ]


def is_flagged(r) -> bool:
    mfu = value(r, "metrics.mfu")
    return (value(r, "numerics.passed") is False or value(r, "backend.info.recompiled_during_timing") is True
            or (mfu is not None and mfu > 1) or bool(value(r, "metrics.errors")))


def checks(r) -> str:
    """Numerics verdict and any warning sign a reader must see beside the figures."""
    passed = value(r, "numerics.passed")
    parts = [{True: "numerics passed", False: "numerics FAILED"}.get(passed, "numerics not checked")]
    if value(r, "backend.info.recompiled_during_timing") is True:
        parts.append("RECOMPILED while timed")
    mfu = value(r, "metrics.mfu")
    if (mfu is not None and mfu > 1) or value(r, "metrics.errors"):
        parts.append("metric ERROR (see methodology)")
    return "; ".join(parts)


def failures(df) -> list[Failure]:
    if df.empty:
        return []
    bad = df[df["status"] != "ok"].sort_values(["workload", "backend.name"])
    out = []
    for _, r in bad.iterrows():
        out.append(Failure(
            workload=str(r["workload"]),
            backend=str(r["backend.name"]),
            status=str(r["status"]),
            error_type=str(value(r, "error.type") or "unknown"),
            message=str(value(r, "error.message") or "no message recorded"),
        ))
    return out
