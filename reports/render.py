"""Markdown rendering of a ``reports.report.Report``."""

from __future__ import annotations

from typing import Any, Callable


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


# Each section of the page: (report, images) -> its lines, in the order the page shows them.
# A new section (a table of training-job costs, say) is one function appended to SECTIONS.
Section = Callable[[Any, dict], list[str]]


def _heading(report, images: dict) -> list[str]:
    lines = [f"# {report.title}", ""]
    lines.append(f"{report.case_count} cases from {', '.join(code(f) for f in report.folders) or 'no folders'}; "
                 f"generated {report.generated_at}.")
    if report.baseline:
        lines.append(f"Ratios (× baseline) are against {code(report.baseline)}.")
    lines.append("")
    if report.case_count == 0:
        lines += ["No result records found.", ""]
    return lines


def _summary(report, images: dict) -> list[str]:
    if not report.summary:
        return []
    return ["## Summary", ""] + [f"- {cell(sentence)}" for sentence in report.summary] + [""]


def _workloads(report, images: dict) -> list[str]:
    lines = []
    for table in report.tables:
        lines += [f"## {cell(table.title)}", ""] + _table(table)
        if table.detail is not None:
            lines += [f"### {cell(table.detail.title)}", ""] + _table(table.detail)
    return lines


def _failures(report, images: dict) -> list[str]:
    if not report.failures:
        return []
    lines = ["## Cases that did not run cleanly", ""]
    for f in report.failures:
        lines.append(f"- {code(f.workload)} on {code(f.backend)}: **{cell(f.status)}**: "
                     f"{cell(f.error_type)}: {cell(f.message)}")
    return lines + [""]


def _plots(report, images: dict) -> list[str]:
    lines = []
    if report.figures and images:
        lines += ["## Plots", ""]
        for fig in report.figures:
            if fig.name in images:
                lines += [f"### {cell(fig.title)}", "", f"![{cell(fig.title)}]({images[fig.name]})", "",
                          f"_{cell(fig.caption)}_", ""]
    if report.plots_skipped and images:
        lines += ["Not plotted: " + "; ".join(cell(s) for s in report.plots_skipped) + ".", ""]
    return lines


def _methodology(report, images: dict) -> list[str]:
    if not report.sections:
        return []
    lines = ["## Methodology", ""]
    for section in report.sections:
        lines += [f"### {cell(section.title)}", ""]
        lines += [f"- {cell(item)}" for item in section.items] + [""]
    return lines


SECTIONS: list[Section] = [_heading, _summary, _workloads, _failures, _plots, _methodology]


def markdown(report, images: dict[str, str] | None = None) -> str:
    """The report as GitHub-flavoured Markdown, section by section (``SECTIONS``); ``images``
    maps a figure's name to the relative path of its SVG (no plots when absent)."""
    images = images or {}
    lines: list[str] = []
    for section in SECTIONS:
        lines += section(report, images)
    return "\n".join(lines).rstrip() + "\n"
