"""One self-contained HTML file: styles inline, plots as base64 SVG data URIs,
no scripts and no network fetches (a Content-Security-Policy forbids both).
The headline tables fit a 1280 px screen (intervals on a line of their own,
cells that wrap between words, never inside one) and become one card per row under 640 px (CSS
only: each cell shows its column name from ``data-label``, the card's title is the column named
``case``; every cell has its column's name as a class, ``c-NAME``); the detail tables fold into
``<details>`` and scroll sideways inside their own box. Every value that came
from a record passes through ``html.escape``."""

from __future__ import annotations

import base64
import re
import html as _html
from typing import Any, Callable

_BIDI = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Direction controls: a name holding one could reorder the text around it (a "Trojan Source" name)."""


def escape(text, quote: bool = True) -> str:
    """``html.escape``, and direction controls written as numeric entities, visible as such."""
    return _BIDI.sub(lambda m: f"&#{ord(m.group())};", _html.escape(str(text), quote=quote))


CSS = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 76rem; padding: 1rem; line-height: 1.45; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.5rem; margin: 0.2rem 0 0.6rem; }
h2 { font-size: 1.2rem; margin-top: 1.8rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
h3 { font-size: 1rem; margin-bottom: 0.3rem; }
.meta, .note, figcaption { color: #555; font-size: 0.9rem; }
.note { margin: 0.15rem 0; }
.summary li { margin: 0.3rem 0; }
.table-wrap { overflow-x: auto; -webkit-overflow-scrolling: touch; border: 1px solid #ddd; border-radius: 4px; }
table { border-collapse: collapse; font-size: 0.85rem; min-width: 100%; }
th, td { padding: 0.35rem 0.5rem; border-bottom: 1px solid #eee; text-align: right; vertical-align: top; }
th.t, td.t { text-align: left; }
th { background: #f4f6f8; font-weight: 600; }
.detail th, .detail td { white-space: nowrap; }
.headline { width: 100%; table-layout: auto; }
/* words wrap between words and after a '-' (a case name breaks at "torch-|cpu", never inside "torch");
   break-word splits a word only when it alone is wider than the whole cell */
.headline td, .headline th { white-space: normal; overflow-wrap: break-word; }
.headline td:not(.t) > div { white-space: nowrap; }
.headline td.c-case > div { min-width: 6rem; }
/* long warnings wrap in a column of fixed width, which a table widens last: the width goes to the figures */
.headline th.c-checks, .headline td.c-checks { width: 22rem; }
.headline td.c-checks > div { min-width: 10rem; }
.legend { margin-top: 0.4rem; }
.ci { display: block; color: #555; font-size: 0.78rem; white-space: nowrap; }
.mark { display: inline-block; margin: 0.1rem 0 0 0.2rem; padding: 0 0.3rem; border-radius: 3px; font-size: 0.72rem;
        background: #fde2b8; color: #6b3d00; white-space: nowrap; }
tr.flagged td { background: #fff4e5; }
tr.published td { background: repeating-linear-gradient(135deg, #fff, #fff 6px, #eef1f5 6px, #eef1f5 9px); }
tr.published td:first-child { font-style: italic; }
details { margin: 0.6rem 0 1rem; }
summary { cursor: pointer; color: #333; font-size: 0.9rem; }
.failed { color: #a40000; }
figure { margin: 1rem 0; }
figure img { width: 100%; max-width: 46rem; height: auto; border: 1px solid #eee; }
code { background: #f4f6f8; padding: 0 0.2rem; border-radius: 3px; word-break: break-all; }
ul { padding-left: 1.2rem; }
li { margin: 0.2rem 0; overflow-wrap: anywhere; }
@media (max-width: 640px) {
  body { padding: 0.6rem; }
  table { font-size: 0.8rem; }
  /* the headline as one card per row: each cell on its own line, its column name beside it */
  .headline-wrap { border: 0; overflow-x: visible; }
  .headline, .headline tbody, .headline tr, .headline td { display: block; width: auto; min-width: 0; }
  .headline thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  .headline tr { border: 1px solid #ccc; border-radius: 6px; margin: 0 0 0.7rem; padding: 0.2rem 0; }
  .headline td { display: flex; justify-content: space-between; gap: 0.8rem; text-align: right; border: 0;
                 padding: 0.2rem 0.6rem; }
  .headline td::before { content: attr(data-label); color: #555; font-weight: 600; text-align: left;
                         flex: 0 0 40%; }
  .headline td.c-case { font-weight: 600; background: #f4f6f8; }
  .headline td.c-case::before { content: none; }
  .headline td > div { min-width: 0; max-width: none; overflow-wrap: break-word; }
  .headline td.c-case > div, .headline td.c-checks > div { min-width: 0; max-width: none; }
  .headline td.c-checks { width: auto; }
}
"""

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_FIGURE = re.compile(r"^(?P<value>.*?)(?: \((?P<ci>[^()]*–[^()]*)\))?(?P<marks>(?: \[[^\[\]]+\])*)$")


def _cell(text: str) -> str:
    """A cell's text as HTML: the 95% interval on a line of its own, price marks as badges."""
    match = _FIGURE.match(text)
    if not match or not (match["ci"] or match["marks"]):
        return escape(text)
    out = escape(match["value"])
    if match["ci"]:
        out += f'<span class="ci">{escape(match["ci"])}</span>'
    for mark in re.findall(r"\[([^\[\]]+)\]", match["marks"] or ""):
        out += f'<span class="mark">{escape(mark)}</span>'
    return out


def _table(table, headline: bool) -> str:
    def cls(heading) -> str:  # the column's name as a class: the CSS styles columns by name, never by position
        return f' class="c-{escape(heading.name)}{" t" if heading.words else ""}"'

    head = "".join(f'<th scope="col"{cls(h)}>{escape(h.text)}</th>' for h in table.headings)
    body = []
    flags = table.flagged or [False] * len(table.rows)
    published = table.published or [False] * len(table.rows)
    for row, flagged, pub in zip(table.rows, flags, published):
        cells = "".join(f'<td{cls(h)} data-label="{escape(h.text)}"><div>{_cell(c)}</div></td>'
                        for h, c in zip(table.headings, row))
        classes = " ".join(c for c, on in (("flagged", flagged), ("published", pub)) if on)
        body.append(f'<tr class="{classes}">{cells}</tr>' if classes else f"<tr>{cells}</tr>")
    kind = "headline" if headline else "detail"
    return (f'<div class="table-wrap {kind}-wrap"><table class="{kind}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")


def _section(table) -> str:
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in table.notes)
    parts = [f"<section><h2>{escape(table.title)}</h2>{notes}", _table(table, headline=True)]
    if table.legend:  # what each mark means, under the first table that shows it
        parts.append('<p class="note legend">' + "<br>".join(escape(n) for n in table.legend) + "</p>")
    if table.detail is not None:
        detail_notes = "".join(f'<p class="note">{escape(n)}</p>' for n in table.detail.notes)
        parts.append(f"<details><summary>Details: step times, FLOP per step, peak memory, compile time, "
                     f"energy, price source, software</summary>{detail_notes}{_table(table.detail, headline=False)}"
                     "</details>")
    return "".join(parts) + "</section>"


def _figure(fig) -> str:
    data = base64.b64encode(fig.svg).decode("ascii")
    return (f'<figure><h3>{escape(fig.title)}</h3>'
            f'<img src="data:image/svg+xml;base64,{data}" alt="{escape(fig.title)}">'
            f"<figcaption>{escape(fig.caption)}</figcaption></figure>")


# Each section of the page after its heading: (report) -> its HTML parts, in the order the page shows them.
# A new section (a table of training-job costs, say) is one function appended to SECTIONS.
Section = Callable[[Any], list[str]]


def _heading(report) -> list[str]:
    parts = [f"<h1>{escape(report.title)}</h1>",
             f'<p class="meta">{report.case_count} cases from '
             + ", ".join(f"<code>{escape(f)}</code>" for f in report.folders)
             + f"; generated {escape(report.generated_at)}."
             + (f" Ratios (× baseline) are against <code>{escape(report.baseline)}</code>." if report.baseline else "")
             + "</p>"]
    if report.case_count == 0:
        parts.append("<p>No result records found.</p>")
    return parts


def _summary(report) -> list[str]:
    if not report.summary:
        return []
    return ['<section class="summary"><h2>Summary</h2><ul>'
            + "".join(f"<li>{escape(s)}</li>" for s in report.summary) + "</ul></section>"]


def _workloads(report) -> list[str]:
    return [_section(t) for t in report.tables]


def _failures(report) -> list[str]:
    if not report.failures:
        return []
    items = "".join(
        f'<li><code>{escape(f.workload)}</code> on <code>{escape(f.backend)}</code>: '
        f'<strong class="failed">{escape(f.status)}</strong>: {escape(f.error_type)}: {escape(f.message)}</li>'
        for f in report.failures)
    return [f"<section><h2>Cases that did not run cleanly</h2><ul>{items}</ul></section>"]


def _plots(report) -> list[str]:
    if not (report.figures or report.plots_skipped):
        return []
    parts = ["<section><h2>Plots</h2>" + "".join(_figure(f) for f in report.figures)]
    if report.plots_skipped:
        parts.append('<p class="note">Not plotted: ' + "; ".join(escape(s) for s in report.plots_skipped) + ".</p>")
    return parts + ["</section>"]


def _methodology(report) -> list[str]:
    if not report.sections:
        return []
    parts = ["<section><h2>Methodology</h2>"]
    for section in report.sections:
        items = "".join(f"<li>{escape(item)}</li>" for item in section.items)
        parts.append(f"<h3>{escape(section.title)}</h3><ul>{items}</ul>")
    return parts + ["</section>"]


SECTIONS: list[Section] = [_heading, _summary, _workloads, _failures, _plots, _methodology]


def document(report) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{escape(CSP)}">',
        f"<title>{escape(report.title)}</title><style>{CSS}</style></head><body>",
    ]
    for section in SECTIONS:
        parts += section(report)
    parts.append("</body></html>\n")
    return "\n".join(parts)
