"""The report's columns, each one named object (after pytest-benchmark's
``table.py``, which picks its columns by name): its header, its cell as the
Markdown and HTML tables show it, its plain value for CSV, whether it is
words (aligned left) or a figure, and when it is shown. A table is a list of
column names; the caption logic ("a column with one value on every row is
said once in the caption") and the HTML's phone cards address columns by
name, never by position.

Adding a headline column (say tokens per joule) is one ``Column(...)`` here
and its name in ``HEADLINE``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from accelbench.harness.cost import MARK_MEANING
from accelbench.reports.rows import MISSING, Row, configuration, dig, software
from accelbench.reports.numbers import nbytes, number, pair, percent, with_interval


@dataclass(frozen=True)
class Context:
    """What a cell may depend on beside its own row: the workload's rows, whether
    they count tokens (else TFLOP/s), the baseline backend and its row."""

    rows: list[Row]
    training: bool
    baseline: str | None = None
    base: Row | None = None


def _always(ctx: Context) -> bool:
    return True


@dataclass(frozen=True)
class Column:
    name: str
    header: Callable[[Context], str]
    cell: Callable[[Row, Context], str]
    """The text the Markdown and HTML tables show (a figure with its interval in brackets, marks in [ ])."""
    plain: Callable[[Row, Context], object]
    """The value for CSV: a number unformatted, or words; None when absent."""
    words: bool = False
    """Words (aligned left) rather than a figure (aligned right)."""
    shown: Callable[[Context], bool] = _always
    said_once: bool = True
    """When every row has the same cell, the caption says it once and the column goes (headline tables)."""


@dataclass(frozen=True)
class Heading:
    """A column as a built table holds it: its name, its header text, words or a figure."""

    name: str
    text: str
    words: bool = False


def _fixed(text: str) -> Callable[[Context], str]:
    return lambda ctx: text


# --------------------------------------------------------------- headline cells
def config_text(row: Row) -> str:
    c = row.config
    return ", ".join(f"{k} {c[k]}" for k in ("batch", "sequence", "precision", "sharding")
                     if c[k] not in (MISSING, "none")) or MISSING


def cost_cell(row: Row, ctx: Context | None = None) -> str:
    text = with_interval(row.cost, row.cost_ci)
    return text + "".join(f" [{m}]" for m in row.marks) if row.cost is not None else text  # each mark bracketed


def ratio_cell(row: Row, ctx: Context) -> str:
    if row.ratio is None:
        return MISSING
    if row is ctx.base:
        return "1× (baseline)"
    return with_interval(row.ratio, row.ratio_ci, "×")


def checks(row: Row, ctx: Context | None = None) -> str:
    """Numerics verdict and any warning sign a reader must see beside the figures."""
    record = row.record
    if record.get("_published"):
        return "published, not re-measured"
    passed = dig(record, "numerics.passed")
    parts = [{True: "numerics passed", False: "numerics FAILED"}.get(passed, "numerics not checked")]
    if dig(record, "backend.info.recompiled_during_timing") is True:
        parts.append("RECOMPILED while timed")
    if row.unstable:
        parts.append("UNSTABLE: " + ", ".join(row.unstable))
    mfu = dig(record, "metrics.mfu")
    if (mfu is not None and mfu > 1) or dig(record, "metrics.errors"):
        parts.append("metric ERROR (see methodology)")
    return "; ".join(parts)


def is_flagged(row: Row) -> bool:
    record = row.record
    mfu = dig(record, "metrics.mfu")
    return (dig(record, "numerics.passed") is False or dig(record, "backend.info.recompiled_during_timing") is True
            or (mfu is not None and mfu > 1) or bool(dig(record, "metrics.errors")) or bool(row.unstable))


UNSTABLE = "UNSTABLE"
CHECK_MEANING = {UNSTABLE: "the timing checks flagged the row (a wide interval, two clusters of step times, load "
                           "from other processes or too few windows): its figures are shown but not to be trusted"}


def marks_shown(rows: list[Row]) -> list[str]:
    """The marks a headline of ``rows`` shows, in the order a reader meets them: each price
    mark (in the cost cells) and UNSTABLE (in the checks cells)."""
    marks = [m for r in rows if r.cost is not None for m in r.marks]
    marks += [UNSTABLE] if any(r.unstable for r in rows) else []
    return list(dict.fromkeys(marks))


def mark_meaning(mark: str) -> str:
    """What a mark tells a reader; a price mark this version does not know is still named, not dropped."""
    return (MARK_MEANING.get(mark) or CHECK_MEANING.get(mark)
            or "a mark the run wrote on this price; the record's cost.notes and the methodology's Prices section say why")


def _throughput_header(ctx: Context) -> str:
    return "tokens/s per chip (95% CI)" if ctx.training else "TFLOP/s per chip (95% CI)"


HEADLINE_COLUMNS = {c.name: c for c in (
    Column("case", _fixed("case"), lambda r, ctx: r.label, lambda r, ctx: r.label, words=True, said_once=False),
    Column("chip", _fixed("chip"), lambda r, ctx: r.chip, lambda r, ctx: r.chip, words=True),
    Column("configuration", _fixed("configuration"), lambda r, ctx: config_text(r), lambda r, ctx: config_text(r),
           words=True),
    Column("throughput", _throughput_header, lambda r, ctx: with_interval(r.per_chip, r.per_chip_ci),
           lambda r, ctx: r.per_chip, said_once=False),
    Column("mfu", _fixed("MFU"), lambda r, ctx: percent(r.mfu), lambda r, ctx: r.mfu),
    # A single micro-kernel row has no cost to say, not even once; several say "–" in the caption.
    Column("cost", _fixed("$/1M tokens (95% CI)"), cost_cell, lambda r, ctx: r.cost,
           shown=lambda ctx: ctx.training or len(ctx.rows) > 1),
    Column("ratio", lambda ctx: f"× {ctx.baseline or 'baseline'} (95% CI)", ratio_cell, lambda r, ctx: r.ratio),
    Column("checks", _fixed("checks"), checks, checks, words=True),
)}
HEADLINE = ("case", "chip", "configuration", "throughput", "mfu", "cost", "ratio", "checks")
"""The headline's columns, in order, by name."""


# --------------------------------------------------------------- detail cells
def _step_ms(row: Row) -> str:
    median = row.median
    return with_interval(median * 1e3 if median else None, pair(dig(row.record, "timing.step_s.ci95"), 1e3))


def price_text(row: Row) -> str:
    rec = row.record
    price = dig(rec, "cost.price_source") or dig(rec, "cost.instance") or MISSING
    if row.published:
        ref = rec["_published"]
        price = f"{price}; figure from {ref.source} ({ref.as_of})"
    return str(price)


def _field(name: str, header: str, dotted: str, show: Callable = number) -> Column:
    """A detail column that shows one record field."""
    return Column(name, _fixed(header), lambda r, ctx: show(dig(r.record, dotted)),
                  lambda r, ctx: dig(r.record, dotted), said_once=False)


def _config(key: str, words: bool = False) -> Column:
    return Column(key, _fixed(key), lambda r, ctx: r.config[key], lambda r, ctx: r.config[key], words=words,
                  said_once=False)


DETAIL_COLUMNS = {c.name: c for c in (
    Column("case", _fixed("case"), lambda r, ctx: r.label, lambda r, ctx: r.label, words=True, said_once=False),
    _config("batch"), _config("sequence"), _config("precision", words=True), _config("sharding", words=True),
    _field("tokens_per_step", "tokens / step", "kernel.tokens_per_step"),
    _field("flops_per_step", "FLOP / step", "kernel.flops_per_step"),
    Column("step_ms", _fixed("step (ms, 95% CI)"), lambda r, ctx: _step_ms(r), lambda r, ctx: r.median,
           said_once=False),
    _field("tflops", "TFLOP/s", "metrics.tflops"),
    _field("peak_memory", "peak memory", "metrics.peak_mem_bytes", nbytes),
    _field("compile_s", "compile (s)", "timing.compile_s"),
    _field("joules_per_token", "J/token", "metrics.joules_per_token"),
    Column("price", _fixed("price"), lambda r, ctx: price_text(r), lambda r, ctx: price_text(r), words=True,
           said_once=False),
    Column("software", _fixed("software"), lambda r, ctx: software(r.record), lambda r, ctx: software(r.record),
           words=True, said_once=False),
)}
DETAIL = tuple(DETAIL_COLUMNS)
"""The detail table's columns, in order, by name."""


def header_text(column: Column, ctx: Context) -> str:
    """The header as a caption names it: without its interval note."""
    return column.header(ctx).removesuffix(" (95% CI)")


__all__ = ["Column", "Context", "Heading", "HEADLINE", "HEADLINE_COLUMNS", "DETAIL", "DETAIL_COLUMNS", "checks",
           "is_flagged", "cost_cell", "ratio_cell", "config_text", "configuration"]
