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
from accelbench.reports import columns
from accelbench.reports.columns import Column, Context, Heading, header_text, is_flagged
from accelbench.reports.numbers import nbytes, number, percent, with_interval  # noqa: F401 (methodology reads them here)
from accelbench.reports.rows import MISSING, Row, dig


class ReportError(RecordError):
    """Bad report input (an unknown --baseline): exit 2 with one line."""


@dataclass
class Table:
    title: str
    headings: list[Heading]
    """The columns shown, in order: name, header text, words or figures."""
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    flagged: list[bool] = field(default_factory=list)
    """Per row: a figure in it is not to be trusted (see the "checks" cell)."""
    published: list[bool] = field(default_factory=list)
    legend: list[str] = field(default_factory=list)
    """Under the table: what each mark it is the first to show means."""
    detail: "Table | None" = None

    @property
    def headers(self) -> list[str]:
        return [h.text for h in self.headings]

    @property
    def names(self) -> list[str]:
        return [h.name for h in self.headings]

    @classmethod
    def of_sections(cls, title: str, headers: list[str], rows: list[list[str]], notes: list[str] | None = None,
                    text_columns: tuple[int, ...] = ()) -> "Table":
        """A section's own table (training job, price tiers, pooled runs): its columns named by their
        header, ``text_columns`` the ones that hold words (left-aligned, broken between words)."""
        headings = [Heading(h, h, i in text_columns) for i, h in enumerate(headers)]
        return cls(title=title, headings=headings, rows=rows, notes=list(notes or []))

    def cells(self, name: str) -> list[str]:
        """Every row's cell of the column named ``name``."""
        at = self.names.index(name)
        return [row[at] for row in self.rows]


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


def cells(df, *columns: str) -> list[dict]:
    """The rows of ``df`` as dicts of the named columns only (those present),
    read by ``value``: one pass in pandas rather than ``iterrows``, and over
    the columns asked for, not the record's hundreds of flattened fields."""
    return df[[c for c in dict.fromkeys(columns) if c in df.columns]].to_dict("records")


def interval(pair, scale: float = 1.0) -> tuple[float, float] | None:
    return rowlib.pair(pair, scale)


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


def variant_labels(records: list[dict]) -> list[str]:
    """Label each case of one workload (``records``, in order) so that cases of
    the same backend with different settings, kernel configs or runs stay apart:
    ``torch-cpu (compile=True)``; published rows by their framework."""
    backends = [str(dig(r, "backend.name")) for r in records]
    configs = [dict(dig(r, "kernel.config") or {}) for r in records]
    settings = [dict(dig(r, "backend.settings") or {}) for r in records]
    config_keys = _differing([c for c, b in zip(configs, backends) if b != PUBLISHED])
    labels = [""] * len(records)
    for backend in dict.fromkeys(backends):
        group = [i for i, b in enumerate(backends) if b == backend]
        setting_keys = _differing([settings[i] for i in group])
        for i in group:
            if backend == PUBLISHED:
                labels[i] = f"published: {dig(records[i], 'backend.framework') or 'source'}"
                continue
            extras = [f"{k}={settings[i].get(k)}" for k in setting_keys]
            extras += [f"{k}={configs[i].get(k)}" for k in config_keys]
            if len(group) > 1 and not extras:  # the same case from several runs (--all-runs)
                extras.append(f"run {records[i].get('run_id')}")
            labels[i] = f"{backend} ({', '.join(extras)})" if extras else backend
    return labels


def _differing(dicts: list[dict]) -> list[str]:
    keys = sorted({k for d in dicts for k in d})
    return [k for k in keys if len({repr(d.get(k)) for d in dicts}) > 1]


def _by_workload(df) -> dict[str, list[dict]]:
    """The ok records of each workload, in the frame's order (whole columns read, no row-by-row walk)."""
    out: dict[str, list[dict]] = {}
    for workload, status, record in zip(df["workload"], df["status"], df["record"]):
        if status == "ok":
            out.setdefault(str(workload), []).append(record)
    return out


def workload_rows(records: list[dict]) -> list[Row]:
    """One workload's rows, sorted as the headline shows them."""
    made = [rowlib.make_row(r, label) for r, label in zip(records, variant_labels(records))]
    return sorted(made, key=lambda r: (r.published, -(r.per_chip or 0.0), r.label))


Workload = tuple[str, list[Row], Row | None]
"""A workload, its rows (sorted as the headline shows them, ratios set) and its baseline row."""


def workloads(df, baseline: str | None) -> list[Workload]:
    """Every workload with ok rows, its rows built once (the ratio bootstrap is
    the slow part) for the headline tables, the summary and the plots."""
    if df.empty:
        return []
    out = []
    for workload, records in sorted(_by_workload(df).items()):
        rows = workload_rows(records)
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


# --------------------------------------------------------------- tables
def build_table(title: str, rows: list[Row], names, by_name: dict[str, Column], ctx: Context,
                said_once: bool = False) -> tuple[Table, list[str]]:
    """A table of the columns ``names`` (those whose ``shown`` holds); with ``said_once``
    and several rows, a column whose every cell is the same leaves the table for the
    caption. Returns the table and the caption's "On every row" parts."""
    chosen = [by_name[n] for n in names if by_name[n].shown(ctx)]
    body = {c.name: [c.cell(r, ctx) for r in rows] for c in chosen}
    same = []
    if said_once and len(rows) > 1:  # a column with one value on every row says it once, in the caption
        for c in chosen:
            if c.said_once and len(set(body[c.name])) == 1:
                same.append(f"{header_text(c, ctx)} {body[c.name][0]}")
        chosen = [c for c in chosen if not (c.said_once and len(set(body[c.name])) == 1)]
    table = Table(title=title, headings=[Heading(c.name, c.header(ctx), c.words) for c in chosen],
                  rows=[list(cells) for cells in zip(*(body[c.name] for c in chosen))] if rows else [],
                  published=[r.published for r in rows])
    return table, same


def headline_tables(df, baseline: str | None, built: list[Workload] | None = None) -> list[Table]:
    """One table per workload; ``built``: ``workloads(df, baseline)`` when the caller has it already."""
    built = workloads(df, baseline) if built is None else built
    out, explained = [], set()
    for workload, rows, base in built:
        table = _headline(workload, rows, baseline, base)
        new = [m for m in columns.marks_shown(rows) if m not in explained]  # explained under the first table showing it
        table.legend = [f"{m}: {columns.mark_meaning(m)}" for m in new]
        explained.update(new)
        out.append(table)
    return out


def _headline(workload: str, rows: list[Row], baseline: str | None, base: Row | None) -> Table:
    ctx = Context(rows=rows, training=any(r.training for r in rows), baseline=baseline, base=base)
    table, same = build_table(workload, rows, columns.HEADLINE, columns.HEADLINE_COLUMNS, ctx, said_once=True)
    notes = []
    if baseline and base is None:
        notes.append(f"no ok result from the baseline backend {baseline} for this workload")
    if not ctx.training:
        notes.append("a micro kernel: no tokens, so throughput is TFLOP/s per chip and there is no cost per token")
    if same:
        notes.insert(0, "On every row: " + "; ".join(same) + ".")
    table.notes = notes + _published_differences(rows)
    table.flagged = [is_flagged(r) for r in rows]
    table.detail = _detail(workload, rows, ctx)
    return table


def _published_differences(rows: list[Row]) -> list[str]:
    """Say where each published configuration differs from the measured ones."""
    ours = [r.config for r in rows if not r.published]
    notes = []
    for r in rows:
        if not r.published:
            continue
        ref = r.record["_published"]
        if not ours:
            notes.append(f"{r.label} on {r.chip}: {ref.configuration}; none of our cases ran this workload")
            continue
        diffs = []
        for key in ("sequence", "precision"):
            theirs, mine = r.config[key], sorted({o[key] for o in ours})
            if theirs not in mine:
                diffs.append(f"{key} {theirs} (ours: {', '.join(mine)})")
        our_chips = sorted({o.chips for o in rows if not o.published})
        if r.chips not in our_chips:
            diffs.append(f"{r.chips:g} chips (ours: {', '.join(f'{x:g}' for x in our_chips)})")
        diffs.append(ref.configuration)
        notes.append(f"{r.label} on {r.chip} differs from our runs: " + "; ".join(diffs))
    return notes


def _detail(workload: str, rows: list[Row], ctx: Context) -> Table:
    table, _ = build_table(f"{workload}: details", rows, columns.DETAIL, columns.DETAIL_COLUMNS, ctx)
    notes = []
    sizes = {size for size, r in zip(zip(table.cells("tokens_per_step"), table.cells("flops_per_step")), rows)
             if not r.published}
    if len(sizes) > 1:
        notes.append("tokens and FLOP per step differ between rows: their configurations differ")
    conventions = sorted({str(dig(r.record, "kernel.flop_convention")) for r in rows
                          if dig(r.record, "kernel.flop_convention")})
    if conventions:
        notes.append(f"FLOP convention: {', '.join(conventions)}")
    table.notes, table.flagged = notes, [False] * len(rows)
    return table


# --------------------------------------------------------------- summary
def summary(df, baseline: str | None, built: list[Workload] | None = None) -> list[str]:
    """One sentence per workload for the cheapest chip and one for the fastest, each
    with its margin over the runner-up (95% interval), the baseline included;
    ``built``: ``workloads(df, baseline)`` when the caller has it already."""
    out = []
    for workload, rows, base in workloads(df, baseline) if built is None else built:
        unit = "tokens/s per chip" if any(r.training for r in rows) else "TFLOP/s per chip"
        priced = sorted((r for r in rows if r.cost is not None), key=lambda x: x.cost)
        if priced:
            r = priced[0]
            marks = f" [{', '.join(r.marks)} price]" if r.marks else ""
            text = (f"{workload}: cheapest is {r.chip} ({_who(r, base)}) at ${with_interval(r.cost, r.cost_ci)} "
                    f"per 1M tokens{marks}")
            text += _margin(r, priced[1:], base, baseline, "the cost", cost=True)
            out.append(text + ".")
        fast = sorted((r for r in rows if r.per_chip), key=lambda x: -x.per_chip)
        if fast:
            r = fast[0]
            text = (f"{workload}: fastest is {r.chip} ({_who(r, base)}) at {with_interval(r.per_chip, r.per_chip_ci)} "
                    f"{unit}")
            text += _margin(r, fast[1:], base, baseline, "the throughput per chip", cost=False)
            out.append(text + ".")
    return out


def _who(row: Row, base: Row | None) -> str:
    return f"{row.label}, the baseline" if row is base else row.label


def _margin(winner: Row, others: list[Row], base: Row | None, baseline: str | None, what: str, cost: bool) -> str:
    """``, 1.2× (1.1–1.3) the throughput per chip of the runner-up, X (Y)``, and the ratio to
    the baseline when neither the winner nor the runner-up is it."""
    if not others:
        return f" (the only case with {'a price' if cost else 'a figure'})"
    runner = others[0]
    ratio, ci = rowlib.throughput_ratio(winner, runner)
    if cost:
        ratio, ci = rowlib.cost_ratio(winner, runner, ratio, ci)
    if ratio is None:
        return ""
    text = f", {with_interval(ratio, ci, '×')} {what} of the runner-up, {runner.chip} ({_who(runner, base)})"
    if ci is None and (winner.published or runner.published):
        text += " (no interval: a published figure has none)"
    if ci is not None and min(ci) <= 1 <= max(ci):
        text += ": the 95% interval holds 1, so the two are not told apart"
    to_base = winner.cost_ratio if cost else winner.ratio
    to_base_ci = winner.cost_ratio_ci if cost else winner.ratio_ci
    if base is not None and winner is not base and runner is not base and to_base is not None:
        text += f"; {with_interval(to_base, to_base_ci, '×')} {what} of {baseline}"
    return text


def failures(df) -> list[Failure]:
    if df.empty:
        return []
    bad = df[df["status"] != "ok"].sort_values(["workload", "backend.name"])
    out = []
    for r in cells(bad, "workload", "backend.name", "status", "error.type", "error.message"):
        out.append(Failure(
            workload=str(r["workload"]),
            backend=str(r["backend.name"]),
            status=str(r["status"]),
            error_type=str(value(r, "error.type") or "unknown"),
            message=str(value(r, "error.message") or "no message recorded"),
        ))
    return out
