"""The headline tables: one per workload (kernel:preset), one row per case
that ran (and per published reference point), formatted as strings both the
Markdown and the HTML renderers use; a detail table under each; and the
summary sentences at the top of the report.

The headline holds what a comparison needs and no more, so it fits a laptop
screen: case, chip, configuration (where rows differ), tokens/s per chip,
MFU, $/1M tokens and × baseline with their 95% intervals, checks. A column
with the same value on every row moves into the caption. Step times, FLOP
per step, peak memory, compile time, energy, price sources and software go
into the detail table.

Every figure comes from a record field; a field that is null (not measured,
no price) is shown as "–" and explained in the methodology section.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from accelbench.harness.plan import CaseId
from accelbench.harness.records import RecordError
from accelbench.reports import rows as rowlib
from accelbench.reports.load import case_id
from accelbench.reports.references import PUBLISHED
from accelbench.reports.rows import MISSING, Row, dig


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
    text_columns: tuple[int, ...] = (0,)
    """Columns of words, aligned left; the rest are figures, aligned right."""
    published: list[bool] = field(default_factory=list)
    detail: "Table | None" = None


@dataclass
class Failure:
    workload: str
    backend: str
    status: str
    error_type: str
    message: str


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
    return rowlib.pair(pair, scale)


def with_interval(v, ci: tuple[float, float] | None, suffix: str = "") -> str:
    if v is None:
        return MISSING
    if ci is None:
        return f"{number(v)}{suffix}"
    return f"{number(v)}{suffix} ({number(min(ci))}–{number(max(ci))})"


def percent(v) -> str:
    if v is None:
        return MISSING
    text = f"{float(v) * 100:.3g}%"
    return text + " (over 100%: an error)" if v > 1 else text


def nbytes(v) -> str:
    if v is None:
        return MISSING
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if v >= size:
            return f"{number(v / size)} {unit}"
    return f"{number(v)} B"


# --------------------------------------------------------------- selection
def ok_rows(df):
    return df[df["status"] == "ok"] if not df.empty else df


def measured(df):
    ok = ok_rows(df)
    return ok[~ok["published"]] if "published" in ok.columns and not ok.empty else ok


def choose_baseline(df, requested: str | None) -> str | None:
    """The backend the "× baseline" column divides by: the one asked for
    (it must appear among the ok results), else the backend present in the
    most workloads (ties: alphabetical), else None. Never a published row."""
    ok = measured(df)
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
    different settings, kernel configs or runs stay apart:
    ``torch-cpu (compile=True)``; published rows by their framework."""
    labels = {}
    config_keys = _differing([r["kernel_config"] for _, r in rows.iterrows() if r["backend.name"] != PUBLISHED])
    for backend, group in rows.groupby("backend.name", sort=False):
        setting_keys = _differing([r["backend_settings"] for _, r in group.iterrows()])
        for index, r in group.iterrows():
            if backend == PUBLISHED:
                labels[index] = f"published: {value(r, 'backend.framework') or 'source'}"
                continue
            extras = [f"{k}={r['backend_settings'].get(k)}" for k in setting_keys]
            extras += [f"{k}={r['kernel_config'].get(k)}" for k in config_keys]
            if len(group) > 1 and not extras:  # the same case from several runs (--all-runs)
                extras.append(f"run {value(r, 'run_id')}")
            labels[index] = f"{backend} ({', '.join(extras)})" if extras else str(backend)
    return labels


def _differing(dicts: list[dict]) -> list[str]:
    keys = sorted({k for d in dicts for k in d})
    return [k for k in keys if len({repr(d.get(k)) for d in dicts}) > 1]


def workload_rows(df, workload: str) -> list[Row]:
    rows = ok_rows(df)
    rows = rows[rows["workload"] == workload]
    labels = variant_labels(rows)
    made = [rowlib.make_row(r["record"], labels[i]) for i, r in rows.iterrows()]
    return sorted(made, key=lambda r: (r.published, -(r.per_chip or 0.0), r.label))


Workload = tuple[str, list[Row], Row | None]
"""A workload, its rows (sorted as the headline shows them, ratios set) and its baseline row."""


def workloads(df, baseline: str | None) -> list[Workload]:
    """Every workload with ok rows, its rows built once (the ratio bootstrap is
    the slow part) for the headline tables, the summary and the plots."""
    ok = ok_rows(df)
    if ok.empty:
        return []
    out = []
    for workload in sorted(set(ok["workload"])):
        rows = workload_rows(df, workload)
        base = _baseline_row(rows, baseline)
        rowlib.set_ratios(rows, base)
        out.append((workload, rows, base))
    return out


def _baseline_row(rows: list[Row], baseline: str | None) -> Row | None:
    if baseline is None:
        return None
    base = [r for r in rows if r.backend == baseline and not r.published]
    if not base:
        return None
    # Several cases of the baseline backend: prefer default settings (no
    # settings hash in the case id), then one device, then the first.
    return min(base, key=lambda r: _baseline_rank(case_id(r.record)))


def _baseline_rank(text: str) -> tuple[bool, bool]:
    parsed = CaseId.parse(text)
    if parsed is None:  # not an id accelbench wrote (a renamed file): last
        return True, True
    return parsed.settings_hash is not None, parsed.devices != 1


# --------------------------------------------------------------- cells
def checks(r: Row) -> str:
    """Numerics verdict and any warning sign a reader must see beside the figures."""
    record = r.record
    if record.get("_published"):
        return "published, not re-measured"
    passed = dig(record, "numerics.passed")
    parts = [{True: "numerics passed", False: "numerics FAILED"}.get(passed, "numerics not checked")]
    if dig(record, "backend.info.recompiled_during_timing") is True:
        parts.append("RECOMPILED while timed")
    if r.unstable:
        parts.append("UNSTABLE: " + ", ".join(r.unstable))
    mfu = dig(record, "metrics.mfu")
    if (mfu is not None and mfu > 1) or dig(record, "metrics.errors"):
        parts.append("metric ERROR (see methodology)")
    return "; ".join(parts)


def is_flagged(r: Row) -> bool:
    record = r.record
    mfu = dig(record, "metrics.mfu")
    return (dig(record, "numerics.passed") is False or dig(record, "backend.info.recompiled_during_timing") is True
            or (mfu is not None and mfu > 1) or bool(dig(record, "metrics.errors")) or bool(r.unstable))


def cost_cell(row: Row) -> str:
    text = with_interval(row.cost, row.cost_ci)
    return text + "".join(f" [{m}]" for m in row.marks) if row.cost is not None else text  # each mark bracketed


def ratio_cell(row: Row, base: Row | None) -> str:
    if row.ratio is None:
        return MISSING
    if row is base:
        return "1× (baseline)"
    return with_interval(row.ratio, row.ratio_ci, "×")


# --------------------------------------------------------------- tables
def headline_tables(df, baseline: str | None, built: list[Workload] | None = None) -> list[Table]:
    """One table per workload; ``built``: ``workloads(df, baseline)`` when the caller has it already."""
    built = workloads(df, baseline) if built is None else built
    return [_headline(workload, rows, baseline, base) for workload, rows, base in built]


def _headline(workload: str, rows: list[Row], baseline: str | None, base: Row | None) -> Table:
    training = any(r.training for r in rows)
    configs = [rowlib.configuration(r.record) for r in rows]
    config_text = [", ".join(f"{k} {c[k]}" for k in ("batch", "sequence", "precision", "sharding")
                             if c[k] not in (MISSING, "none")) or MISSING for c in configs]
    headers = ["case", "chip", "configuration",
               "tokens/s per chip (95% CI)" if training else "TFLOP/s per chip (95% CI)", "MFU",
               "$/1M tokens (95% CI)", f"× {baseline or 'baseline'} (95% CI)", "checks"]
    body = [[r.label, r.chip, config_text[i], with_interval(r.per_chip, r.per_chip_ci), percent(r.mfu),
             cost_cell(r), ratio_cell(r, base), checks(r)] for i, r in enumerate(rows)]
    notes = []
    if baseline and base is None:
        notes.append(f"no ok result from the baseline backend {baseline} for this workload")
    if not training:
        notes.append("a micro kernel: no tokens, so throughput is TFLOP/s per chip and there is no cost per token")
    keep = list(range(len(headers)))
    same = []
    if len(rows) > 1:  # a column with one value on every row says it once, in the caption
        for col in (1, 2, 4, 5, 6, 7):
            if len({row[col] for row in body}) == 1:
                same.append(f"{headers[col].removesuffix(' (95% CI)')} {body[0][col]}")
                keep.remove(col)
    elif not training:
        keep.remove(5)
    if same:
        notes.insert(0, "On every row: " + "; ".join(same) + ".")
    notes += _published_differences(rows, configs)
    table = Table(title=workload, headers=[headers[c] for c in keep], rows=[[row[c] for c in keep] for row in body],
                  notes=notes, flagged=[is_flagged(r) for r in rows], published=[r.published for r in rows],
                  text_columns=tuple(i for i, c in enumerate(keep) if c in (0, 1, 2, 7)))
    table.detail = _detail(workload, rows, configs)
    return table


def _published_differences(rows: list[Row], configs: list[dict]) -> list[str]:
    """Say where each published configuration differs from the measured ones."""
    ours = [c for r, c in zip(rows, configs) if not r.published]
    notes = []
    for r, c in zip(rows, configs):
        if not r.published:
            continue
        ref = r.record["_published"]
        if not ours:
            notes.append(f"{r.label} on {r.chip}: {ref.configuration}; none of our cases ran this workload")
            continue
        diffs = []
        for key, theirs in (("sequence", c["sequence"]), ("precision", c["precision"])):
            mine = sorted({o[key] for o in ours})
            if theirs not in mine:
                diffs.append(f"{key} {theirs} (ours: {', '.join(mine)})")
        our_chips = sorted({o.chips for o in rows if not o.published})
        if r.chips not in our_chips:
            diffs.append(f"{r.chips:g} chips (ours: {', '.join(f'{x:g}' for x in our_chips)})")
        diffs.append(ref.configuration)
        notes.append(f"{r.label} on {r.chip} differs from our runs: " + "; ".join(diffs))
    return notes


DETAIL_HEADERS = ["case", "batch", "sequence", "precision", "sharding", "tokens / step", "FLOP / step",
                  "step (ms, 95% CI)", "TFLOP/s", "peak memory", "compile (s)", "J/token", "price", "software"]


def _detail(workload: str, rows: list[Row], configs: list[dict]) -> Table:
    body = []
    for r, c in zip(rows, configs):
        rec = r.record
        median = dig(rec, "timing.step_s.median")
        price = dig(rec, "cost.price_source") or dig(rec, "cost.instance") or MISSING
        if r.published:
            ref = rec["_published"]
            price = f"{price}; figure from {ref.source} ({ref.as_of})"
        body.append([r.label, c["batch"], c["sequence"], c["precision"], c["sharding"],
                     number(dig(rec, "kernel.tokens_per_step")), number(dig(rec, "kernel.flops_per_step")),
                     with_interval(median * 1e3 if median else None, interval(dig(rec, "timing.step_s.ci95"), 1e3)),
                     number(dig(rec, "metrics.tflops")), nbytes(dig(rec, "metrics.peak_mem_bytes")),
                     number(dig(rec, "timing.compile_s")), number(dig(rec, "metrics.joules_per_token")),
                     str(price), rowlib.software(rec)])
    notes = []
    sizes = {(row[5], row[6]) for row, r in zip(body, rows) if not r.published}
    if len(sizes) > 1:
        notes.append("tokens and FLOP per step differ between rows: their configurations differ")
    conventions = sorted({str(dig(r.record, "kernel.flop_convention")) for r in rows
                          if dig(r.record, "kernel.flop_convention")})
    if conventions:
        notes.append(f"FLOP convention: {', '.join(conventions)}")
    return Table(title=f"{workload}: details", headers=list(DETAIL_HEADERS), rows=body, notes=notes,
                 flagged=[False] * len(body), published=[r.published for r in rows],
                 text_columns=(0, 3, 4, 12, 13))


# --------------------------------------------------------------- summary
def summary(df, baseline: str | None, built: list[Workload] | None = None) -> list[str]:
    """One sentence per workload for the cheapest chip and one for the fastest;
    ``built``: ``workloads(df, baseline)`` when the caller has it already."""
    out = []
    for workload, rows, base in workloads(df, baseline) if built is None else built:
        unit = "tokens/s per chip" if any(r.training for r in rows) else "TFLOP/s per chip"
        priced = [r for r in rows if r.cost is not None]
        if priced:
            r = min(priced, key=lambda x: x.cost)
            ratio = (" — the baseline itself" if r is base else
                     f", {with_interval(r.cost_ratio, r.cost_ratio_ci, '×')} the cost of {baseline}"
                     if r.cost_ratio is not None else "")
            marks = f" [{', '.join(r.marks)} price]" if r.marks else ""
            out.append(f"{workload}: cheapest is {r.chip} ({r.label}) at ${with_interval(r.cost, r.cost_ci)} "
                       f"per 1M tokens{marks}{ratio}.")
        fast = [r for r in rows if r.per_chip]
        if fast:
            r = max(fast, key=lambda x: x.per_chip)
            ratio = (" — the baseline itself" if r is base else
                     f", {with_interval(r.ratio, r.ratio_ci, '×')} the throughput per chip of {baseline}"
                     if r.ratio is not None else "")
            out.append(f"{workload}: fastest is {r.chip} ({r.label}) at {with_interval(r.per_chip, r.per_chip_ci)} "
                       f"{unit}{ratio}.")
    return out


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
