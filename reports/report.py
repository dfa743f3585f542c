"""A report: the pieces (tables, failures, methodology, plots) built once from
loaded records, then rendered as Markdown, HTML and CSV.

    accelbench report DIR... [--md FILE] [--html FILE] [--csv FILE] [--baseline BACKEND]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from accelbench.harness.records import write_bytes_atomic
from accelbench.reports import load, methodology, tables

TITLE = "accelbench results"


@dataclass
class Report:
    title: str
    generated_at: str
    folders: list[str]
    baseline: str | None
    case_count: int
    tables: list[tables.Table]
    failures: list[tables.Failure]
    sections: list[methodology.Section]
    summary: list[str] = field(default_factory=list)
    figures: list = field(default_factory=list)  # plots.Figure
    plots_skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def build(loaded: load.Loaded, baseline: str | None = None, with_plots: bool = True, title: str = TITLE,
          df=None) -> Report:
    """``df``: ``loaded.frame()`` when the caller has it already (it is slow to make over thousands of records)."""
    df = loaded.frame() if df is None else df
    ours = df[~df["published"]] if not df.empty else df  # the measured records, without published reference points
    chosen = tables.choose_baseline(df, baseline) if not df.empty else None
    if ours.empty and baseline is not None:
        raise tables.ReportError(f"--baseline {baseline}: there are no result records to compare against")
    built = tables.workloads(df, chosen) if not df.empty else []  # rows and ratios, once for tables and plots
    report = Report(
        title=title,
        generated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        folders=list(loaded.folders),
        baseline=chosen,
        case_count=len(ours),
        tables=tables.headline_tables(df, chosen, built),
        summary=tables.summary(df, chosen, built),
        failures=tables.failures(df),
        sections=methodology.sections(ours, loaded.warnings, chosen) + methodology.published(df),
        warnings=list(loaded.warnings),
    )
    if with_plots and not df.empty:
        from accelbench.reports import plots

        drawn = plots.draw_all(df, built)
        report.figures, report.plots_skipped = drawn.figures, drawn.skipped
    return report


def csv_text(loaded: load.Loaded, df=None) -> str:
    """Every flattened field of every record, one row per case."""
    df = loaded.frame() if df is None else df
    return df.drop(columns=[c for c in ("kernel_config", "backend_settings", "record") if c in df.columns]).to_csv(index=False)


def write(
    dirs,
    md: str | Path | None = None,
    html: str | Path | None = None,
    csv: str | Path | None = None,
    baseline: str | None = None,
    warn: Callable[[str], None] | None = None,
    references: bool = False,
    all_runs: bool = False,
    transform: Callable[[load.Loaded], None] | None = None,
    train_tokens: float | None = None,
    tiers: bool = False,
    pool_runs: bool = False,
) -> tuple[Report, str]:
    """Load ``dirs`` (and, with ``references``, the published reference
    points) and write the reports asked for; returns the report and its
    Markdown. Markdown plots go beside the .md file in ``<stem>_plots/``.
    ``transform`` changes the loaded records in place before anything is built."""
    from accelbench.reports import html as html_render, render

    loaded = load.load_folders(dirs, all_runs=all_runs or pool_runs)
    if not references:  # before anything is written: a report of nothing is not a success
        load.require_records(loaded)
    if transform:  # e.g. re-pricing the saved records (reports/pricing.py)
        transform(loaded)
    pooled = []
    if pool_runs:  # each case's runs as one record, two-level bootstrap interval (reports/pooling.py)
        from accelbench.reports import pooling

        loaded.records, pooled = pooling.pool_records(loaded.records)
    if references:  # after re-pricing: published rows are priced from the catalog by reports/references.py
        from accelbench.reports.references import published_records

        loaded.records += published_records()
    for warning in loaded.warnings:
        if warn:
            warn(warning)
    df = loaded.frame()  # once, for the report and the CSV
    report = build(loaded, baseline, with_plots=bool(md or html), df=df)
    if train_tokens:  # its own section: the cost of a whole job (reports/training_cost.py)
        from accelbench.reports import training_cost

        job = training_cost.table(loaded.records, train_tokens)
        report.tables += [job] if job else []
        report.sections.append(methodology.training_job(train_tokens))
    differences = methodology.workload_differences(loaded.records)  # e.g. a suite's departure from the flagship
    report.sections += [differences] if differences else []
    if pooled:
        report.tables.append(pooling.table(pooled))
    if tiers:  # its own section: $/1M at every tier, cheapest case per tier (reports/tiers.py)
        from accelbench.reports import tiers as tier_table

        by_tier = tier_table.table(loaded.records)
        report.tables += [by_tier] if by_tier else []
    images = {}
    if md and report.figures:
        plot_dir = Path(md).parent / f"{Path(md).stem}_plots"
        for fig in report.figures:
            write_atomic(plot_dir / f"{fig.name}.svg", fig.svg)
            images[fig.name] = f"{plot_dir.name}/{fig.name}.svg"
    text = render.markdown(report, images)
    if md:
        write_atomic(md, text.encode())
    if html:
        write_atomic(html, html_render.document(report).encode())
    if csv:
        write_atomic(csv, csv_text(loaded, df).encode())
    return report, text


def write_atomic(path: str | Path, data: bytes) -> None:
    """``records.write_bytes_atomic`` (a reader never sees half a report; mode
    as a plain file), its OSError told as a ReportError naming the file."""
    try:
        write_bytes_atomic(path, data)
    except OSError as exc:
        raise tables.ReportError(f"{path}: cannot write the report there ({exc.strerror or exc})") from None