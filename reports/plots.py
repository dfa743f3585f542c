"""Report plots, drawn with matplotlib's object API (no pyplot, no GUI) as
SVG with tight bounds, imported only when a report is drawn. Each function
returns a ``Figure`` or the reason it drew nothing (listed as "not plotted").

Made to be read on a phone: one column of horizontal bars, each bar's name
written above it (not beside it, where names took two thirds of the width),
short titles, the device named once (in the title when every bar shares it).
Published reference points are hatched and grey; a bar whose price is a
what-if or otherwise marked is hatched and its mark is written on it.

* $/1M tokens, one panel per workload with its own scale;
* tokens/s per chip, one panel per workload with its own scale;
* MFU, one panel per workload;
(past MOST_BARS bars, each workload's best case and baseline, the rest said to be in the tables);
* a roofline of the micro kernels, only when the catalog gives a roof
  (Williams, Waterman & Patterson, "Roofline", CACM 2009);
* throughput against device count, when the results hold several scales.
"""

from __future__ import annotations

import io
import math
import textwrap
from dataclasses import dataclass, field
from typing import Callable

from accelbench.reports.rows import PRICE_MARKS
from accelbench.reports.tables import Workload, ok_rows, value, workloads

MEASURED, PUBLISHED_GREY, MARKED = "#1f77b4", "#9aa5b1", "#f0a44b"
WIDTH_IN = 5.0
LABEL_PT = 12
UNIT_IN = 0.21
NAME_CHARS = 44
MOST_BARS = 40
"""More bars than a reader can read (and than matplotlib draws quickly): past this, a chart keeps each
workload's best and its baseline, and its caption says the rest are in the tables."""
MOST_PANELS = 12
"""Workloads (panels, each an axis of its own) in one chart; the caption names where the rest are."""
"""At 5 inches wide and 11 pt, a figure shown 370 px wide on a phone keeps its text about 11 px high."""


@dataclass
class Figure:
    name: str
    title: str
    caption: str
    svg: bytes


@dataclass
class Plots:
    figures: list[Figure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class Bar:
    group: str
    label: str
    value: float
    ci: tuple[float, float] | None
    published: bool = False
    marks: tuple[str, ...] = ()


def _text(s) -> str:
    """Plain text for matplotlib: a '$' would start mathtext."""
    return str(s).replace("$", r"\$")


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure as MplFigure

    return MplFigure(figsize=(width, height), layout="constrained")


def _svg(fig) -> bytes:
    import matplotlib

    buf = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "accelbench"}):  # the same ids every time: a report diffs cleanly
        # no bbox_inches="tight": the constrained layout already fits the text, and "tight" draws the figure twice
        fig.savefig(buf, format="svg", metadata={"Date": None})
    return buf.getvalue()


def _floats(df, name: str):
    """A column as floats, NaN where absent or not a number (the whole column NaN when the frame lacks it)."""
    import pandas as pd

    if name not in df.columns:
        return pd.Series(float("nan"), index=df.index)
    return pd.to_numeric(df[name], errors="coerce")


def device_specs() -> tuple[dict, str | None]:
    """Catalog entries by key (``peak_tflops`` {precision: TFLOP/s}, ``memory_tbps``), and a note when unreadable."""
    try:
        from accelbench.facts import catalog

        return catalog.load_devices(), None
    except Exception as exc:  # a broken catalog must not stop the report
        return {}, f"device catalog unreadable: {exc}"


def _fmt(v: float) -> str:
    if v >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _bar_name(bar: Bar) -> list[str]:
    name = bar.label + (" (published)" if bar.published and "published" not in bar.label else "")
    name += f" [{', '.join(bar.marks)}]" if bar.marks else ""
    return textwrap.wrap(name, NAME_CHARS) or [""]


def _slots(bars: list[Bar]) -> tuple[list[tuple[Bar, float]], float]:
    """Each bar's y position (its name written above it, wrapped) and the panel's height, in units of UNIT_IN."""
    slots, y = [], 0.0
    for bar in bars:
        y += 1.0 * len(_bar_name(bar))
        slots.append((bar, y + 0.4))
        y += 1.15
    return slots, y + 0.3


def bar_chart(bars: list[Bar], xlabel: str):
    """Horizontal bars, one panel per workload with its own axis (a CPU's tiny
    model never shares a scale with an 8B model on an accelerator), each bar's
    name above it (wrapped, so a long name adds a line instead of widening the
    figure). Heights are in units of UNIT_IN inches, so text and bars keep their
    spacing at any count."""
    from matplotlib.ticker import MaxNLocator

    groups = list(dict.fromkeys(b.group for b in bars))
    panels = [_slots([b for b in bars if b.group == g]) for g in groups]
    tick_units = 2.2  # the panel's title above and its tick labels below
    heights = [h + tick_units for _, h in panels]
    fig = _new_figure(WIDTH_IN, 0.6 + UNIT_IN * sum(heights))
    axes = fig.subplots(len(groups), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
    for ax, group, (slots, height) in zip(axes, groups, panels):
        top = max((b.ci[1] if b.ci else b.value) for b, _ in slots) or 1.0
        for bar, ypos in slots:
            colour = PUBLISHED_GREY if bar.published else (MARKED if bar.marks else MEASURED)
            hatch = "///" if bar.published else ("xx" if bar.marks else None)
            ax.barh([ypos], [bar.value], height=0.75, color=colour, hatch=hatch, edgecolor="#333333", linewidth=0.4)
            if bar.ci:
                ax.errorbar([bar.value], [ypos], xerr=[[max(bar.value - bar.ci[0], 0)], [max(bar.ci[1] - bar.value, 0)]],
                            fmt="none", ecolor="#222222", capsize=3, linewidth=1)
            ax.text(0, ypos - 0.5, _text("\n".join(_bar_name(bar))), fontsize=LABEL_PT - 1, va="bottom",
                    color="#222222", linespacing=1.1)
            end = bar.ci[1] if bar.ci else bar.value
            ax.text(end + top * 0.015, ypos, _text(_fmt(bar.value)), fontsize=LABEL_PT - 1, va="center")
        ax.set_title(_text(group), fontsize=LABEL_PT, fontweight="bold", loc="left")
        ax.set_xlim(0, top * 1.22)
        ax.set_ylim(height, 0)
        ax.set_yticks([])
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.xaxis.set_major_locator(MaxNLocator(4))  # few ticks: their labels stay apart at phone width
        ax.tick_params(axis="x", labelsize=LABEL_PT - 1)
        ax.grid(axis="x", alpha=0.3)
    axes[-1].set_xlabel(_text(xlabel), fontsize=LABEL_PT - 1)
    return fig


def _workloads(df, built: list[Workload] | None) -> list[Workload]:
    """The headline's rows of every workload: ``built`` by the report, else built here (without ratios)."""
    return workloads(df, None) if built is None else built


def _fewer(bars: list[Bar], keep: Callable[[Bar], bool], best: Callable[[list[Bar]], Bar]) -> tuple[list[Bar], str]:
    """At most MOST_BARS bars: all of them when they fit; else each workload's best
    and its baseline (``keep``); else as many workloads as fit. Returns the bars and
    what the caption says of the rest ("" when every bar is drawn)."""
    groups = list(dict.fromkeys(b.group for b in bars))
    if len(bars) <= MOST_BARS and len(groups) <= MOST_PANELS:
        return bars, ""
    few = len(bars) > MOST_BARS  # else: every bar of the first MOST_PANELS workloads
    chosen: list[Bar] = []
    shown = 0
    for group in groups:
        mine = [b for b in bars if b.group == group]
        top = best(mine)
        pick = [b for b in mine if b is top or keep(b)] if few else mine
        if len(chosen) + len(pick) > MOST_BARS or shown == MOST_PANELS:
            break
        chosen += pick
        shown += 1
    first = f", for the first {shown} workloads (to {groups[shown - 1]})" if shown < len(groups) else ""
    if few:
        return chosen, (f"{len(bars):,} bars are more than a reader can read: this chart shows each workload's best "
                        f"case and its baseline{first}; the other {len(bars) - len(chosen):,} bars are in the tables.")
    return chosen, (f"{len(groups)} workloads are more than one chart holds: this chart shows the first {shown} "
                    f"(to {groups[shown - 1]}); the other {len(groups) - shown} are in the tables.")


def _bars(df, metric: str, built: list[Workload] | None = None) -> tuple[list[Bar], str | None, str]:
    """One bar per row of every workload's headline (or, past MOST_BARS, each workload's best and baseline);
    the device alone is named once when all rows share it; and what the caption says of bars left out."""
    bars, chips, bases = [], set(), set()
    for workload, rows, base in _workloads(df, built):
        for row in rows:
            v, ci = (row.cost, row.cost_ci) if metric == "cost" else (
                (row.mfu * 100, None) if metric == "mfu" and row.mfu is not None else (row.per_chip, row.per_chip_ci))
            if v is None or (metric == "tokens" and not row.training) or (metric == "mfu" and row.mfu is None):
                continue
            chips.add(row.chip)
            marks = tuple(m for m in row.marks if m in PRICE_MARKS) if metric == "cost" else ()
            bar = Bar(workload, f"{row.label} · {row.chip}", float(v), ci, row.published, marks)
            bars.append(bar)
            if row is base:
                bases.add(id(bar))
    lower_is_better = metric == "cost"
    bars, left_out = _fewer(bars, keep=lambda b: id(b) in bases,
                            best=lambda group: (min if lower_is_better else max)(group, key=lambda b: b.value))
    if len(chips) == 1:
        only = chips.pop()
        for b in bars:
            b.label = b.label.removesuffix(f" · {only}")
        return bars, only, left_out
    return bars, None, left_out


def cost_chart(df, built: list[Workload] | None = None) -> Figure | str:
    bars, chip, left_out = _bars(df, "cost", built)
    if not bars:
        return "$/1M tokens: no case had a price (pass --instance or --usd-per-hour to `accelbench run`)"
    title = "$ per 1M tokens" + (f" on {chip}" if chip else "")
    caption = ("Cost per million training tokens, one panel per workload, each with its own scale (compare chips "
               "within a workload, never across), error bars from the 95% interval; lower is better. Hatched grey: "
               "published figures costed with our catalog. Hatched orange: a price with a mark (what-if: the price "
               "of another device than the one that ran; unconfirmed, stale or other-region prices) — not a "
               "measured cost." + (f" {left_out}" if left_out else ""))
    return Figure("cost", title, caption, _svg(bar_chart(bars, "US$ per 1M tokens (95% CI)")))


def throughput_chart(df, built: list[Workload] | None = None) -> Figure | str:
    bars, chip, left_out = _bars(df, "tokens", built)
    if not bars:
        return "throughput: no training-step results (micro kernels have no tokens)"
    title = "tokens/s per chip" + (f" on {chip}" if chip else "")
    caption = ("Training throughput per chip, one panel per workload, each with its own scale (compare chips "
               "within a workload, never across), error bars from the 95% bootstrap interval of the median step "
               "time; higher is better. Hatched grey: published figures." + (f" {left_out}" if left_out else ""))
    return Figure("throughput", title, caption, _svg(bar_chart(bars, "tokens/s per chip (95% CI)")))


def mfu_chart(df, built: list[Workload] | None = None) -> Figure | str:
    bars, _, left_out = _bars(df, "mfu", built)
    if not bars:
        return "MFU: not measured for any case (no catalog peak for these devices)"
    fig = bar_chart(bars, "MFU, % of the dense peak for the precision used")
    return Figure("mfu", "MFU", "Model FLOP utilisation: achieved FLOP/s over the chips' dense peak for the "
                  "precision used. Published MFU uses the source's own FLOP count." + (f" {left_out}" if left_out else ""),
                  _svg(fig))


def roofline(df, specs: dict, catalog_note: str | None) -> Figure | str:
    ok = ok_rows(df)
    if not ok.empty:  # whole columns compared at once, not row by row
        micro = ok[(_floats(ok, "kernel.tokens_per_step").fillna(0) == 0) & (_floats(ok, "kernel.flops_per_step").fillna(0) != 0)
                   & (_floats(ok, "kernel.bytes_per_step").fillna(0) != 0) & _floats(ok, "metrics.tflops").notna()]
    else:
        micro = ok
    if micro.empty:
        return "roofline: no micro-kernel results with FLOP and byte counts"
    roofs = []
    for (key, precision), _ in micro.groupby(["backend.device_catalog_key", "backend.precision"], dropna=False):
        spec = specs.get(key) if isinstance(key, str) else None
        peak = (getattr(spec, "peak_tflops", None) or {}).get(precision) if spec is not None else None
        bandwidth = getattr(spec, "memory_tbps", None) if spec is not None else None
        if peak and bandwidth:
            roofs.append((key, precision, float(peak), float(bandwidth)))
    if not roofs:
        why = catalog_note or "no catalog peak and bandwidth for these devices (CPUs have none)"
        return f"roofline: no roof to draw ({why})"
    fig = _new_figure(WIDTH_IN, 4.2)
    ax = fig.subplots()
    ax.set_xscale("log")
    ax.set_yscale("log")
    intensities = []
    for flops, nbytes, tflops, count, workload, backend in zip(
            micro["kernel.flops_per_step"], micro["kernel.bytes_per_step"], micro["metrics.tflops"],
            _floats(micro, "backend.device_count"), micro["workload"], micro["backend.name"]):
        ai = float(flops) / float(nbytes)
        intensities.append(ai)
        chips = max(int(count) if count == count else 1, 1)  # NaN (not recorded): one
        ax.scatter([ai], [float(tflops) / chips], s=30, zorder=3, label=_text(f"{workload} · {backend}"))
    lo = min(intensities + [p / b for _, _, p, b in roofs]) / 10
    hi = max(intensities + [p / b for _, _, p, b in roofs]) * 10
    for key, precision, peak, bandwidth in roofs:
        xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
        ax.plot(xs, [min(peak, x * bandwidth) for x in xs], linewidth=1.2, label=_text(f"roof: {key} {precision}"))
    ax.set_xlim(lo, hi)
    ax.set_xlabel("FLOP per byte moved", fontsize=LABEL_PT)
    ax.set_ylabel("TFLOP/s per chip", fontsize=LABEL_PT)
    ax.grid(which="both", alpha=0.25)
    ax.legend(fontsize=8, loc="lower right")
    caption = ("Micro kernels: achieved TFLOP/s per chip against arithmetic intensity (FLOP ÷ the fewest bytes "
               "moved); roofs: min(dense peak, intensity × memory bandwidth) from the device catalog.")
    return Figure("roofline", "Roofline of the micro kernels", caption, _svg(fig))


def scaling(df) -> Figure | str:
    ok = ok_rows(df)
    if ok.empty or "backend.device_count" not in ok.columns:
        return "scaling: no ok results"
    ok = ok[~ok["published"]] if "published" in ok.columns else ok
    scales = ok.groupby(["workload", "backend.name"])["backend.device_count"].nunique()
    several = set(scales[scales > 1].index)
    groups = [(key, g) for key, g in ok.groupby(["workload", "backend.name"]) if key in several] if several else []
    if not groups:
        return "scaling: every result ran at one device count"
    fig = _new_figure(WIDTH_IN, 3.8)
    ax = fig.subplots()
    counts = set()
    for (workload, backend), g in groups:
        g = g.sort_values("backend.device_count")
        metric = "metrics.tokens_per_s" if value(g.iloc[0], "metrics.tokens_per_s") is not None else "metrics.tflops"
        xs = [int(c) for c in g["backend.device_count"]]
        counts.update(xs)
        ys = [float(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else float("nan") for v in g[metric]]
        line = ax.plot(xs, ys, marker="o", label=_text(f"{workload} on {backend}"))[0]
        if ys and ys[0] == ys[0]:
            ax.plot(xs, [ys[0] * x / xs[0] for x in xs], linestyle=":", color=line.get_color())
    ax.set_xticks(sorted(counts), [str(c) for c in sorted(counts)])
    ax.set_xlabel("devices", fontsize=LABEL_PT)
    ax.set_ylabel("throughput", fontsize=LABEL_PT)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return Figure("scaling", "Throughput against device count",
                  "Throughput at each device count; dotted lines: perfect linear scaling from the smallest run.", _svg(fig))


def draw_all(df, built: list[Workload] | None = None) -> Plots:
    """Every plot; ``built``: ``tables.workloads`` as the report built it (else each chart builds its own rows)."""
    plots = Plots()
    if df.empty:
        return plots
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        plots.skipped.append("plots: matplotlib is not installed (pip install matplotlib)")
        return plots
    specs, note = device_specs()
    drawers = (("cost", cost_chart, (built,)), ("throughput", throughput_chart, (built,)),
               ("MFU", mfu_chart, (built,)), ("roofline", roofline, (specs, note)), ("scaling", scaling, ()))
    for name, draw, extra in drawers:
        try:
            result = draw(df, *extra)
        except Exception as exc:  # odd values in one record must not cost the whole report
            result = f"{name}: could not be drawn ({type(exc).__name__}: {exc})"
        if isinstance(result, Figure):
            plots.figures.append(result)
        else:
            plots.skipped.append(result)
    return plots
