"""The HTML report of a real smoke run, opened in headless Chromium: it
renders, shows its tables and plots, at desktop and phone widths, and logs
nothing to the console (a Content-Security-Policy violation, a blocked fetch
or an injected script would all log there).

Needs the Debian packages ``chromium`` and ``chromium-driver``; marked
``browser`` and left out of the default run (``pytest -m browser``).
Console messages are read from Chromium's own log (``--enable-logging=stderr``
prints each as an ``INFO:CONSOLE`` line); a control page checks that this
capture works, so the test cannot pass by capturing nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--hide-scrollbars"]
BAR_BLUE = np.array([0x1F, 0x77, 0xB4]) / 255  # matplotlib's first colour: the throughput bars
SHOTS = Path(os.environ.get("ACCELBENCH_SCREENSHOTS", "")) if os.environ.get("ACCELBENCH_SCREENSHOTS") else None


def chromium(tmp_path: Path, page: Path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"  # a fresh profile every time
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
                          capture_output=True, text=True, timeout=120)


def console_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def blue_pixels(png: Path) -> int:
    from matplotlib.image import imread

    rgb = imread(png)[..., :3]
    return int((np.abs(rgb - BAR_BLUE).max(axis=-1) < 0.03).sum())


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory) -> Path:
    """A priced two-backend run (the smoke suite: torch-cpu and jax-cpu, priced as one H100 of a p5.48xlarge:
    a what-if) and its report with the published reference points beside it."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")
    out = tmp_path_factory.mktemp("smoke") / "results"
    proc = subprocess.run([sys.executable, "-m", "accelbench.harness.cli", "run", "--out", str(out), "--steps", "3",
                           "--repeats", "2", "--instance", "p5.48xlarge", "--quiet"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "accelbench.harness.cli", "report", str(out), "--references",
                           "--html", str(out / "with-references.html")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out / "with-references.html"


MEASURE = """<!DOCTYPE html><html><body style="margin:0">
<iframe id="f" src="{src}" style="width:{width}px;height:3000px;border:0"></iframe><pre id="result">pending</pre>
<script>
document.getElementById("f").addEventListener("load", function () {{
  var d = this.contentDocument, out = ["page " + d.documentElement.scrollWidth + " " + d.documentElement.clientWidth];
  d.querySelectorAll(".headline-wrap").forEach(function (w) {{ out.push("headline " + w.scrollWidth + " " + w.clientWidth); }});
  // a name broken inside a word: a letter or digit on one line, the next one on the line below
  var midword = 0, names = 0;
  d.querySelectorAll(".headline td.c-case div, .headline td.c-chip div").forEach(function (div) {{
    names++;
    var walk = d.createTreeWalker(div, NodeFilter.SHOW_TEXT), node;
    while ((node = walk.nextNode())) {{
      var text = node.textContent, last = null;
      for (var i = 0; i < text.length; i++) {{
        var range = d.createRange(); range.setStart(node, i); range.setEnd(node, i + 1);
        var rects = range.getClientRects(); if (!rects.length) continue;
        if (last !== null && rects[0].top > last + 2 && /[A-Za-z0-9]/.test(text[i - 1]) && /[A-Za-z0-9]/.test(text[i])) midword++;
        last = rects[0].top;
      }}
    }}
  }});
  out.push("midword " + midword + " " + names);
  d.querySelectorAll(".headline").forEach(function (t) {{
    var checks = t.querySelector("th.c-checks");
    if (checks && checks.offsetWidth) out.push("checks " + checks.offsetWidth + " " + t.offsetWidth);
  }});
  document.getElementById("result").textContent = out.join(";");
}});
</script></body></html>"""


def overflow(tmp_path: Path, page: Path, width: int) -> list[tuple[str, int, int]]:
    """scrollWidth and clientWidth of the page and of every headline table, measured by a page that frames
    ``page`` at ``width`` px (the report itself runs no scripts)."""
    frame = tmp_path / f"frame-{width}-{page.stem}.html"
    frame.write_text(MEASURE.format(src=page.as_uri(), width=width))
    proc = chromium(tmp_path, frame, "--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = proc.stdout.split('<pre id="result">')[1].split("</pre>")[0]
    assert text != "pending", "the framed report never loaded"
    return [(name, int(scroll), int(client)) for name, scroll, client in (part.split() for part in text.split(";"))]


def test_overflow_measurement_sees_a_too_wide_table(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    wide = tmp_path / "wide.html"
    wide.write_text('<!DOCTYPE html><div class="headline-wrap" style="overflow-x:auto"><table><tr>'
                    + "<td>a-very-long-unbreakable-cell-value</td>" * 30 + "</tr></table></div>")
    measured = dict((name, (scroll, client)) for name, scroll, client in overflow(tmp_path, wide, 390))
    scroll, client = measured["headline"]
    assert scroll > client, "the control must overflow, or the measurement proves nothing"


def test_midword_measurement_sees_a_name_broken_inside_a_word(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    narrow = tmp_path / "narrow.html"
    narrow.write_text('<!DOCTYPE html><table class="headline"><tr><td class="c-case" style="overflow-wrap:anywhere">'
                      '<div style="width:1.5em">torch-cpu</div></td></tr></table>')
    [(_, broken, names)] = [m for m in overflow(tmp_path, narrow, 390) if m[0] == "midword"]
    assert names == 1 and broken > 0, "the control must break inside a word, or the measurement proves nothing"


@pytest.mark.parametrize("width", [1280, 390])
def test_headline_tables_fit_without_sideways_scrolling(smoke_report, tmp_path, width):
    measured = overflow(tmp_path, smoke_report, width)
    headlines = [m for m in measured if m[0] == "headline"]
    assert len(headlines) == 3, measured  # gemm:tiny, gpt2:tiny and the published llama:8b
    for name, scroll, client in measured:
        if name in ("page", "headline"):
            assert scroll <= client, f"{name} overflows at {width} px: scrollWidth {scroll} > clientWidth {client}"


@pytest.mark.parametrize("width", [1280, 390])
def test_names_never_break_inside_a_word_and_checks_do_not_take_the_width(smoke_report, tmp_path, width):
    measured = overflow(tmp_path, smoke_report, width)
    [(_, broken, names)] = [m for m in measured if m[0] == "midword"]
    assert names >= 3 and broken == 0, measured
    for _, checks, table in (m for m in measured if m[0] == "checks"):  # the desktop table (cards have no header)
        assert checks <= 0.4 * table, f"the checks column takes {checks} of {table} px at {width} px"


def test_smoke_report_renders_tables_and_plots_without_console_errors(smoke_report, tmp_path):
    proc = chromium(tmp_path, smoke_report, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_lines(proc) == []
    dom = proc.stdout
    assert dom.count('<table class="headline">') == 3 and "tokens/s per chip (95% CI)" in dom and "gpt2:tiny" in dom
    assert dom.count('<tr class="published">') == 8 and '<span class="mark">what-if</span>' in dom
    assert dom.count('<img src="data:image/svg+xml;base64,') >= 2  # cost and throughput
    assert "<details>" in dom and "Summary" in dom

    saved = SHOTS or Path(tempfile.gettempdir()) / "accelbench-report-screenshots"
    saved.mkdir(parents=True, exist_ok=True)
    for name, size in (("desktop-1280", "1280,4200"), ("phone-390", "390,7000")):
        shot = tmp_path / f"report-{name}.png"
        proc = chromium(tmp_path, smoke_report, f"--window-size={size}", f"--screenshot={shot}")
        assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
        assert console_lines(proc) == []
        assert blue_pixels(shot) > 200, f"{name}: no plot bars visible in the screenshot"
        shutil.copy(shot, saved / shot.name)


def test_hostile_record_renders_as_text(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    sys.path.insert(0, str(Path(__file__).parents[1]))
    from conftest import synthetic

    from accelbench.harness.records import write_record
    from accelbench.reports import report

    folder = tmp_path / "results"
    write_record(folder / "evil.json", synthetic(kernel="<script>console.error('pwned')</script>"))
    report.write([folder], html=tmp_path / "r.html")
    proc = chromium(tmp_path, tmp_path / "r.html", "--dump-dom")
    assert proc.returncode == 0
    assert console_lines(proc) == []  # an injected script would run (or be blocked) and log
    assert "&lt;script&gt;console.error('pwned')&lt;/script&gt;" in proc.stdout
