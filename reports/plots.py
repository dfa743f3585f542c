"""Report plots, drawn with matplotlib's object API (no pyplot, no GUI, Agg
raster output), imported only when a report is drawn. Each function returns a
``Figure`` (PNG bytes and a caption) or None when the results hold nothing
for it to show, with the reason in ``skipped``.

* throughput and cost per device, error bars from the 95% intervals;
* MFU per kernel;
* a roofline of the micro kernels: arithmetic intensity = FLOP per step ÷
  bytes per step (the fewest bytes the kernel must move), against each
  device's dense peak and memory bandwidth from the device catalog
  (Williams, Waterman & Patterson, "Roofline", CACM 2009);
* throughput against device count, when the results hold several scales.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

from accelbench.reports.tables import interval, ok_rows, value, variant_labels

DPI = 110


@dataclass
class Figure:
    name: str
    title: str
    caption: str
    png: bytes


@dataclass
class Plots:
    figures: list[Figure] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _text(s) -> str:
    """Plain text for matplotlib: a '$' would start mathtext."""
    return str(s).replace("$", r"\$")


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(width, height), layout="constrained")
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def device_specs() -> tuple[dict, str | None]:
    """Catalog entries by key (DeviceSpec with ``peak_tflops`` {precision:
    TFLOP/s} and ``memory_tbps``), and a note when there is no catalog."""
    try:
        from accelbench.harness import catalog
    except ImportError:
        return {}, "no device catalog (accelbench.harness.catalog) in this installation"
    try:
        devices = catalog.load_devices()
    except Exception as exc:  # a broken catalog must not stop the report
        return {}, f"device catalog unreadable: {exc}"
    if isinstance(devices, dict):
        return devices, None
    return {getattr(d, "key", getattr(d, "name", None)): d for d in devices}, None


def _labels(rows) -> dict:
    labels = {}
    for workload, group in rows.groupby("workload", sort=True):
        for index, label in variant_labels(group).items():
            r = rows.loc[index]
            count = value(r, "backend.device_count")
            scale = f" ×{int(count)}" if count and int(count) > 1 else ""
            labels[index] = f"{label} · {value(r, 'backend.device_kind') or '?'}{scale}"
    return labels


def _hbar(ax, names, values, errors, xlabel, missing=()):
    ys = list(range(len(names)))
    for y in missing:
        ax.text(0, y, "  no price", va="center", fontsize=8, color="#555555")
    lows = [max(v - lo, 0.0) if lo is not None else 0.0 for v, (lo, hi) in zip(values, errors)]
    highs = [max(hi - v, 0.0) if hi is not None else 0.0 for v, (lo, hi) in zip(values, errors)]
    ax.barh(ys, values, xerr=[lows, highs], color="#1f77b4", capsize=4, ecolor="#333333")
    ax.set_yticks(ys, [_text(n) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(_text(xlabel))
    ax.grid(axis="x", alpha=0.3)


def throughput_and_cost(df) -> Figure | str:
    ok = ok_rows(df)
    if ok.empty:
        return "throughput: no ok results"
    training = ok[[bool(value(r, "kernel.tokens_per_step")) and value(r, "metrics.tokens_per_s") is not None
                   for _, r in ok.iterrows()]]
    if training.empty:
        return "throughput and cost: no training-step results (micro kernels have no tokens)"
    labels = _labels(training)
    workloads = sorted(set(training["workload"]))
    priced = any(value(r, "cost.usd_per_mtok") is not None for _, r in training.iterrows())
    heights = [max(1.2, 0.45 * (training["workload"] == w).sum() + 0.9) for w in workloads]
    fig = _new_figure(10 if priced else 7, sum(heights))
    axes = fig.subplots(len(workloads), 2 if priced else 1, squeeze=False,
                        gridspec_kw={"height_ratios": heights})
    for row_axes, workload in zip(axes, workloads):
        rows = training[training["workload"] == workload].sort_values("metrics.tokens_per_s", ascending=False)
        names, tps, tps_ci, cost, cost_ci = [], [], [], [], []
        for index, r in rows.iterrows():
            names.append(labels[index])
            v = float(value(r, "metrics.tokens_per_s"))
            step_ci = interval(value(r, "timing.step_s.ci95"))
            tokens = float(value(r, "kernel.tokens_per_step"))
            tps.append(v)
            tps_ci.append((tokens / max(step_ci), tokens / min(step_ci)) if step_ci and min(step_ci) > 0 else (None, None))
            c = value(r, "cost.usd_per_mtok")
            cost.append(float(c) if c is not None else 0.0)
            cost_ci.append(interval(value(r, "cost.usd_per_mtok_ci95")) or (None, None))
        _hbar(row_axes[0], names, tps, tps_ci, "tokens/s (95% CI)")
        row_axes[0].set_title(_text(f"{workload}: tokens/s"), fontsize=10, loc="left")
        if priced:
            unpriced = [i for i, (_, r) in enumerate(rows.iterrows()) if value(r, "cost.usd_per_mtok") is None]
            _hbar(row_axes[1], names, cost, [tuple(sorted(c)) if c[0] is not None else c for c in cost_ci],
                  "$ per 1M tokens (95% CI)", missing=unpriced)
            row_axes[1].set_title(_text(f"{workload}: $/1M tokens"), fontsize=10, loc="left")
    caption = "Training throughput per backend and device, error bars from the 95% bootstrap interval of the median step time"
    caption += "; cost per million tokens beside it." if priced else "; no case had a price, so no cost panel."
    return Figure("throughput_cost", "Throughput and cost per device", caption, _png(fig))


def mfu_per_kernel(df) -> Figure | str:
    ok = ok_rows(df)
    rows = ok[[value(r, "metrics.mfu") is not None for _, r in ok.iterrows()]] if not ok.empty else ok
    if rows.empty:
        return "MFU: not measured for any case (no catalog peak for these devices)"
    labels = _labels(rows)
    workloads = sorted(set(rows["workload"]))
    series = sorted({labels[i] for i in rows.index})
    fig = _new_figure(max(6.0, 1.2 * len(workloads) + 3), 4)
    ax = fig.subplots()
    width = 0.8 / len(series)
    for k, name in enumerate(series):
        xs, ys = [], []
        for j, w in enumerate(workloads):
            match = [i for i in rows.index if labels[i] == name and rows.loc[i, "workload"] == w]
            if match:
                xs.append(j + k * width - 0.4 + width / 2)
                ys.append(float(rows.loc[match[0], "metrics.mfu"]) * 100)
        ax.bar(xs, ys, width=width, label=_text(name))
    ax.set_xticks(range(len(workloads)), [_text(w) for w in workloads])
    ax.set_ylabel("MFU (% of dense peak)")
    ax.axhline(100, color="red", linewidth=0.8, linestyle="--")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    return Figure("mfu", "MFU per kernel", "Model FLOP utilisation: achieved FLOP/s over the device's dense peak "
                  "for the precision used; the dashed line is 100%.", _png(fig))


def roofline(df, specs: dict, catalog_note: str | None) -> Figure | str:
    ok = ok_rows(df)
    micro = ok[[not value(r, "kernel.tokens_per_step") and bool(value(r, "kernel.flops_per_step"))
                and bool(value(r, "kernel.bytes_per_step")) and value(r, "metrics.tflops") is not None
                for _, r in ok.iterrows()]] if not ok.empty else ok
    if micro.empty:
        return "roofline: no micro-kernel results with FLOP and byte counts"
    labels = _labels(micro)
    fig = _new_figure(7.5, 4.8)
    ax = fig.subplots()
    ax.set_xscale("log")
    ax.set_yscale("log")
    intensities = []
    for index, r in micro.iterrows():
        ai = float(r["kernel.flops_per_step"]) / float(r["kernel.bytes_per_step"])
        intensities.append(ai)
        chips = max(int(value(r, "backend.device_count") or 1), 1)
        ax.scatter([ai], [float(r["metrics.tflops"]) / chips], s=36, zorder=3,
                   label=_text(f"{r['workload']} · {labels[index]}"))
    roofs, missing = [], set()
    for (key, precision), _ in micro.groupby(["backend.device_catalog_key", "backend.precision"], dropna=False):
        spec = specs.get(key) if isinstance(key, str) else None
        peak = (getattr(spec, "peak_tflops", None) or {}).get(precision) if spec is not None else None
        bandwidth = getattr(spec, "memory_tbps", None) if spec is not None else None
        if peak and bandwidth:
            roofs.append((key, precision, float(peak), float(bandwidth)))
        else:
            missing.add(f"{key} {precision}" if isinstance(key, str) else "devices without a catalog key, such as CPUs")
    lo = min(intensities + [p / b for _, _, p, b in roofs]) / 10
    hi = max(intensities + [p / b for _, _, p, b in roofs]) * 10
    for key, precision, peak, bandwidth in roofs:
        xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
        ax.plot(xs, [min(peak, x * bandwidth) for x in xs], linewidth=1.2,
                label=_text(f"roof: {key} {precision} ({peak:g} TFLOP/s, {bandwidth:g} TB/s)"))
    ax.set_xlim(lo, hi)
    ax.set_xlabel("arithmetic intensity (FLOP per byte moved)")
    ax.set_ylabel("achieved TFLOP/s per chip")
    ax.grid(which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="best")
    caption = ("Micro kernels: achieved TFLOP/s per chip (a run on N chips divided by N) against arithmetic "
               "intensity (FLOP ÷ the fewest bytes moved).")
    if roofs:
        caption += " Roofs: min(dense peak, intensity × memory bandwidth) from the device catalog."
    if missing or catalog_note:
        why = catalog_note or f"no catalog peak and bandwidth for: {', '.join(sorted(missing))}"
        caption += f" Achieved points only where there is no roof ({why})."
    return Figure("roofline", "Roofline of the micro kernels", caption, _png(fig))


def scaling(df) -> Figure | str:
    ok = ok_rows(df)
    if ok.empty or "backend.device_count" not in ok.columns:
        return "scaling: no ok results"
    groups = [(key, g) for key, g in ok.groupby(["workload", "backend.name"])
              if g["backend.device_count"].nunique() > 1]
    if not groups:
        return "scaling: every result ran at one device count"
    fig = _new_figure(7, 4.5)
    ax = fig.subplots()
    metrics, counts = set(), set()
    for (workload, backend), g in groups:
        g = g.sort_values("backend.device_count")
        metric = "metrics.tokens_per_s" if value(g.iloc[0], "metrics.tokens_per_s") is not None else "metrics.tflops"
        metrics.add("tokens/s" if metric == "metrics.tokens_per_s" else "TFLOP/s")
        xs = [int(c) for c in g["backend.device_count"]]
        counts.update(xs)
        ys = [float(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else float("nan") for v in g[metric]]
        line = ax.plot(xs, ys, marker="o", label=_text(f"{workload} on {backend}"))[0]
        if ys and ys[0] == ys[0]:
            ax.plot(xs, [ys[0] * x / xs[0] for x in xs], linestyle=":", color=line.get_color())
    ax.set_xticks(sorted(counts), [str(c) for c in sorted(counts)])
    ax.set_xlabel("devices")
    ax.set_ylabel(" or ".join(sorted(metrics)))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return Figure("scaling", "Throughput against device count",
                  "Throughput at each device count; dotted lines: perfect linear scaling from the smallest run.", _png(fig))


def draw_all(df) -> Plots:
    plots = Plots()
    if df.empty:
        return plots
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        plots.skipped.append("plots: matplotlib is not installed (pip install matplotlib)")
        return plots
    specs, note = device_specs()
    drawers = (("throughput and cost", throughput_and_cost, ()), ("MFU", mfu_per_kernel, ()),
               ("roofline", roofline, (specs, note)), ("scaling", scaling, ()))
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
