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
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium chromium-driver)")
    out = tmp_path_factory.mktemp("smoke") / "results"
    proc = subprocess.run([sys.executable, "-m", "accelbench.harness.cli", "run", "--out", str(out), "--steps", "3",
                           "--repeats", "2"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out / "report.html"


def test_console_capture_works(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    page = tmp_path / "control.html"
    page.write_text('<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
                    "content=\"default-src 'none'\"></head><body><img src=\"https://example.com/x.png\">"
                    '<script>console.error("x")</script></body></html>')
    proc = chromium(tmp_path, page, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(console_lines(proc)) >= 2, proc.stderr[-2000:]  # the blocked image and the blocked script


def test_smoke_report_renders_tables_and_plots_without_console_errors(smoke_report, tmp_path):
    proc = chromium(tmp_path, smoke_report, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert console_lines(proc) == []
    dom = proc.stdout
    assert dom.count("<table>") == 2 and "tokens/s, 95% CI" in dom and "gpt2:tiny" in dom
    assert dom.count('<img src="data:image/png;base64,') >= 2

    for name, size in (("desktop", "1280,2200"), ("phone", "412,2400")):
        shot = tmp_path / f"report-{name}.png"
        proc = chromium(tmp_path, smoke_report, f"--window-size={size}", f"--screenshot={shot}")
        assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
        assert console_lines(proc) == []
        assert blue_pixels(shot) > 2000, f"{name}: no plot bars visible in the screenshot"
        if SHOTS is not None:
            SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, SHOTS / shot.name)


def test_hostile_record_renders_as_text(tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    sys.path.insert(0, str(Path(__file__).parent))
    from test_reports import synthetic

    from accelbench.harness.records import write_record
    from accelbench.reports import report

    folder = tmp_path / "results"
    write_record(folder / "evil.json", synthetic(kernel="<script>console.error('pwned')</script>"))
    report.write([folder], html=tmp_path / "r.html")
    proc = chromium(tmp_path, tmp_path / "r.html", "--dump-dom")
    assert proc.returncode == 0
    assert console_lines(proc) == []  # an injected script would run (or be blocked) and log
    assert "&lt;script&gt;console.error('pwned')&lt;/script&gt;" in proc.stdout
