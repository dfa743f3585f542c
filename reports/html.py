"""One self-contained HTML file: styles inline, plots as base64 PNG data URIs,
no scripts and no network fetches (a Content-Security-Policy forbids both),
readable on a phone (viewport meta, tables scroll sideways inside their own
box). Every value that came from a record passes through ``html.escape``."""

from __future__ import annotations

import base64
from html import escape

CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 72rem; padding: 1rem; line-height: 1.45; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.5rem; margin: 0.2rem 0 0.6rem; }
h2 { font-size: 1.2rem; margin-top: 1.8rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
h3 { font-size: 1rem; margin-bottom: 0.3rem; }
.meta, .note, figcaption { color: #555; font-size: 0.9rem; }
.table-wrap { overflow-x: auto; -webkit-overflow-scrolling: touch; border: 1px solid #ddd; border-radius: 4px; }
table { border-collapse: collapse; font-size: 0.85rem; min-width: 100%; }
th, td { padding: 0.35rem 0.55rem; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
th.t, td.t { text-align: left; }
th:first-child, td:first-child { position: sticky; left: 0; background: #fff; }
th { background: #f4f6f8; font-weight: 600; }
th:first-child { background: #f4f6f8; }
tr.flagged td { background: #fff4e5; }
.failed { color: #a40000; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
code { background: #f4f6f8; padding: 0 0.2rem; border-radius: 3px; word-break: break-all; }
ul { padding-left: 1.2rem; }
li { margin: 0.2rem 0; overflow-wrap: anywhere; }
@media (max-width: 600px) { body { padding: 0.6rem; } table { font-size: 0.78rem; } }
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _table(table) -> str:
    def cls(i: int) -> str:
        return ' class="t"' if i in table.text_columns else ""

    head = "".join(f'<th scope="col"{cls(i)}>{escape(h)}</th>' for i, h in enumerate(table.headers))
    body = []
    for row, flagged in zip(table.rows, table.flagged or [False] * len(table.rows)):
        cells = "".join(f"<td{cls(i)}>{escape(c)}</td>" for i, c in enumerate(row))
        body.append(f'<tr class="flagged">{cells}</tr>' if flagged else f"<tr>{cells}</tr>")
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in table.notes)
    return (f"<section><h2>{escape(table.title)}</h2>{notes}"
            f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div></section>")


def _figure(fig) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (f'<figure><h3>{escape(fig.title)}</h3>'
            f'<img src="data:image/png;base64,{data}" alt="{escape(fig.title)}">'
            f"<figcaption>{escape(fig.caption)}</figcaption></figure>")


def document(report) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">',
        f"<title>{escape(report.title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(report.title)}</h1>",
        f'<p class="meta">{report.case_count} cases from '
        + ", ".join(f"<code>{escape(f)}</code>" for f in report.folders)
        + f"; generated {escape(report.generated_at)}."
        + (f" Ratios (× baseline) are against <code>{escape(report.baseline)}</code>." if report.baseline else "")
        + "</p>",
    ]
    if report.case_count == 0:
        parts.append("<p>No result records found.</p>")
    parts += [_table(t) for t in report.tables]
    if report.failures:
        items = "".join(
            f'<li><code>{escape(f.workload)}</code> on <code>{escape(f.backend)}</code>: '
            f'<strong class="failed">{escape(f.status)}</strong>: {escape(f.error_type)}: {escape(f.message)}</li>'
            for f in report.failures)
        parts.append(f"<section><h2>Cases that did not run cleanly</h2><ul>{items}</ul></section>")
    if report.figures or report.plots_skipped:
        parts.append("<section><h2>Plots</h2>" + "".join(_figure(f) for f in report.figures))
        if report.plots_skipped:
            parts.append('<p class="note">Not plotted: ' + "; ".join(escape(s) for s in report.plots_skipped) + ".</p>")
        parts.append("</section>")
    if report.sections:
        parts.append("<section><h2>Methodology</h2>")
        for section in report.sections:
            items = "".join(f"<li>{escape(item)}</li>" for item in section.items)
            parts.append(f"<h3>{escape(section.title)}</h3><ul>{items}</ul>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
