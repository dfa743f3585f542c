"""Markdown rendering of a ``reports.report.Report``."""

from __future__ import annotations


def cell(text) -> str:
    """Text outside code spans: pipes escaped and newlines folded (a value cannot
    break a table), angle brackets as entities (a value cannot become HTML)."""
    text = str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def code(text) -> str:
    text = str(text).replace("`", "'").replace("\n", " ")
    return f"`{text}`"


def _table(table) -> list[str]:
    lines = [f"_{cell(n)}_  " for n in table.notes] + [""]
    lines.append("| " + " | ".join(cell(h) for h in table.headers) + " |")
    lines.append("|" + "---|" * len(table.headers))
    for row in table.rows:
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    legend = getattr(table, "legend", [])
    return lines + [""] + ([f"_{cell(n)}_  " for n in legend] + [""] if legend else [])


def markdown(report, images: dict[str, str] | None = None) -> str:
    """The report as GitHub-flavoured Markdown; ``images`` maps a figure's
    name to the relative path of its PNG (no plots when absent)."""
    images = images or {}
    lines = [f"# {report.title}", ""]
    lines.append(f"{report.case_count} cases from {', '.join(code(f) for f in report.folders) or 'no folders'}; "
                 f"generated {report.generated_at}.")
    if report.baseline:
        lines.append(f"Ratios (× baseline) are against {code(report.baseline)}.")
    lines.append("")
    if report.case_count == 0:
        lines += ["No result records found.", ""]
    if report.summary:
        lines += ["## Summary", ""] + [f"- {cell(sentence)}" for sentence in report.summary] + [""]
    for table in report.tables:
        lines += [f"## {cell(table.title)}", ""] + _table(table)
        if table.detail is not None:
            lines += [f"### {cell(table.detail.title)}", ""] + _table(table.detail)
    if report.failures:
        lines += ["## Cases that did not run cleanly", ""]
        for f in report.failures:
            lines.append(f"- {code(f.workload)} on {code(f.backend)}: **{cell(f.status)}**: "
                         f"{cell(f.error_type)}: {cell(f.message)}")
        lines.append("")
    if report.figures and images:
        lines += ["## Plots", ""]
        for fig in report.figures:
            if fig.name in images:
                lines += [f"### {cell(fig.title)}", "", f"![{cell(fig.title)}]({images[fig.name]})", "",
                          f"_{cell(fig.caption)}_", ""]
    if report.plots_skipped and images:
        lines += ["Not plotted: " + "; ".join(cell(s) for s in report.plots_skipped) + ".", ""]
    if report.sections:
        lines += ["## Methodology", ""]
        for section in report.sections:
            lines += [f"### {cell(section.title)}", ""]
            lines += [f"- {cell(item)}" for item in section.items] + [""]
    return "\n".join(lines).rstrip() + "\n"
