"""`accelbench report`: tables, plots, methodology, HTML safety and bad files.

One real smoke run per module (`accelbench run --steps 3 --repeats 2`, about
25 s on 2 cores) gives real records; synthetic records made with the
accelbench.harness.records dataclasses cover what a CPU run cannot show (prices, MFU,
failed numerics, a hostile kernel name, several device counts)."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from accelbench.harness import stats
from conftest import synthetic

from accelbench.harness.cli import main
from accelbench.harness.records import BackendPart, KernelPart, MetricsPart, NumericsPart, ResultRecord, TimingPart, write_record
from accelbench.reports import load, report

SMOKE_CASES = ("gemm-tiny--jax-cpu", "gemm-tiny--torch-cpu", "gpt2-tiny--jax-cpu", "gpt2-tiny--torch-cpu")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke") / "results"
    proc = subprocess.run([sys.executable, "-m", "accelbench.harness.cli", "run", "--out", str(out), "--steps", "3",
                           "--repeats", "2"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out


def report_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(["report", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


# ----------------------------------------------------------------- the smoke run
@pytest.mark.slow
def test_run_writes_markdown_and_html_reports(smoke):
    md = (smoke / "report.md").read_text()
    html = (smoke / "report.html").read_text()
    for case in ("gemm:tiny", "gpt2:tiny"):
        assert f"## {case}" in md and f"<h2>{case}</h2>" in html
    assert '<meta name="viewport"' in html and 'class="headline"' in html and "<details>" in html
    assert html.count('<img src="data:image/svg+xml;base64,') >= 1  # throughput (no price, no roof on a CPU)
    assert "<script" not in html and "<link" not in html and 'src="http' not in html
    svg = (smoke / "report_plots" / "throughput.svg").read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg and "<script" not in svg


@pytest.mark.slow
def test_report_all_formats_with_a_baseline(smoke, tmp_path, capsys):
    code, out, err = report_cli(capsys, smoke, "--md", tmp_path / "r.md", "--html", tmp_path / "r.html",
                                "--csv", tmp_path / "r.csv", "--baseline", "torch-cpu")
    assert code == 0, err
    assert out == ""  # written to files, not printed
    md = (tmp_path / "r.md").read_text()
    assert "against `torch-cpu`" in md and md.count("1× (baseline)") == 2
    assert "![tokens/s per chip on" in md and "](r_plots/throughput.svg)" in md
    assert "## Summary" in md and "gpt2:tiny: fastest is" in md
    for heading in ("### Timing", "### Completion fences", "### FLOP convention", "### Prices", "### Software and hosts"):
        assert heading in md
    assert "no price for:" in md and "Energy not measured for" in md and "MFU not measured for" in md
    import pandas as pd

    csv = pd.read_csv(tmp_path / "r.csv")
    assert sorted(csv["backend.name"]) == ["jax-cpu", "jax-cpu", "torch-cpu", "torch-cpu"]
    assert (csv["timing.step_s.median"] > 0).all()


@pytest.mark.slow
def test_report_prints_markdown_without_output_files(smoke, capsys):
    code, out, _ = report_cli(capsys, smoke)
    assert code == 0 and out.startswith("# accelbench results") and "| torch-cpu |" in out


@pytest.mark.slow
def test_unknown_baseline_exits_2_and_writes_nothing(smoke, tmp_path, capsys):
    code, _, err = report_cli(capsys, smoke, "--html", tmp_path / "r.html", "--baseline", "tpu-v9")
    assert code == 2
    assert err.strip().count("\n") == 0 and "--baseline tpu-v9" in err and "jax-cpu, torch-cpu" in err
    assert not (tmp_path / "r.html").exists()


@pytest.mark.slow
def test_bad_files_are_skipped_with_one_warning_each(smoke, tmp_path, capsys):
    folder = tmp_path / "mixed"
    shutil.copytree(smoke, folder)
    text = (folder / "gpt2-tiny--jax-cpu.json").read_text()
    (folder / "truncated.json").write_text(text[: len(text) // 2])
    (folder / "empty.json").write_text("")
    (folder / "unrelated.json").write_text(json.dumps({"name": "some other tool", "values": [1, 2]}))
    code, _, err = report_cli(capsys, folder, "--md", tmp_path / "r.md")
    assert code == 0
    warnings = [line for line in err.splitlines() if line.startswith("accelbench: warning:")]
    assert len(warnings) == 3, err
    for name, why in (("truncated.json", "not valid JSON"), ("empty.json", "empty file"),
                      ("unrelated.json", "not a result record")):
        assert sum(name in w and why in w for w in warnings) == 1, (name, warnings)
    md = (tmp_path / "r.md").read_text()
    assert md.count("| torch-cpu |") == 4 and "### Files skipped" in md  # headline and detail, two workloads


@pytest.mark.slow
def test_compare_smoke_folder_against_itself(smoke, capsys):
    assert main(["compare", str(smoke), str(smoke)]) == 0
    out = capsys.readouterr().out
    assert all(case in out for case in SMOKE_CASES), out


# ----------------------------------------------------------------- synthetic records
def test_hostile_values_are_escaped_in_html_and_markdown(tmp_path, capsys):
    evil = "<script>alert(1)</script>"
    write_record(tmp_path / "evil.json", synthetic(kernel=evil, device='"><img src=x onerror=alert(2)>'))
    write_record(tmp_path / "bad.json", synthetic(backend="torch-neuron", status="failed",
                                                  error={"type": "Crash", "message": "<b>boom</b>"}))
    code, _, err = report_cli(capsys, tmp_path, "--html", tmp_path / "r.html", "--md", tmp_path / "r.md")
    assert code == 0, err
    html = (tmp_path / "r.html").read_text()
    assert "<script" not in html and "<img src=x" not in html and "<b>boom" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;boom&lt;/b&gt;" in html
    md = (tmp_path / "r.md").read_text()
    assert "## &lt;script&gt;" in md  # outside code spans, markup is shown, never run


def test_prices_mfu_energy_and_flags(tmp_path, capsys):
    cost = {"instance": "p5.48xlarge", "usd_per_hour": 6.88, "chips_priced": 1, "usd_per_mtok": 11.66,
            "usd_per_mtok_ci95": [11.5, 11.8], "source": "https://aws.amazon.com/ec2/pricing/on-demand/",
            "as_of": "2025-06-05"}
    good = synthetic(cost=cost)
    good.metrics.mfu, good.metrics.joules_per_token = 0.334, 0.41
    write_record(tmp_path / "gpt2-124m--torch-cuda.json", good)
    bad = synthetic(backend="jax-gpu", median=0.09)
    bad.numerics = NumericsPart(passed=False, max_rel_err=0.3, tolerance=0.02, reference="torch-cpu fp64")
    bad.backend.info = {"recompiled_during_timing": True}
    write_record(tmp_path / "gpt2-124m--jax-gpu.json", bad)
    rep = report.build(load.load_folders([tmp_path]), baseline="torch-cuda")
    table = rep.tables[0]
    col = {h: i for i, h in enumerate(table.headers)}
    rows = {row[0]: row for row in table.rows}
    assert "chip" not in col and "On every row: chip NVIDIA H100 80GB HBM3" in table.notes[0]
    assert rows["torch-cuda"][col["MFU"]] == "33.4%" and rows["torch-cuda"][col["$/1M tokens (95% CI)"]] == "11.7 (11.5–11.8)"
    assert rows["torch-cuda"][col["× torch-cuda (95% CI)"]] == "1× (baseline)"
    ratio = rows["jax-gpu"][col["× torch-cuda (95% CI)"]]
    assert ratio.startswith("1.11× (") and rows["jax-gpu"][col["$/1M tokens (95% CI)"]] == "–"
    lo, hi = (float(x) for x in ratio.split("(")[1].rstrip(")").split("–"))
    assert lo < 1.11 < hi  # a bootstrap interval around the ratio
    assert "numerics FAILED" in rows["jax-gpu"][col["checks"]] and "RECOMPILED" in rows["jax-gpu"][col["checks"]]
    assert table.flagged == [True, False]  # sorted fastest first
    detail = {row[0]: row for row in table.detail.rows}
    assert detail["torch-cuda"][table.detail.headers.index("J/token")] == "0.41"
    assert detail["torch-cuda"][table.detail.headers.index("compile (s)")] == "20"
    sections = {s.title: s.items for s in rep.sections}
    flagged = sections["Flagged cases: read these figures with care"]
    assert any("numerics FAILED" in i for i in flagged) and any("recompiled" in i for i in flagged)
    assert any("p5.48xlarge" in i and "2025-06-05" in i and "aws.amazon.com" in i for i in sections["Prices"])
    assert any(i.startswith("no price for: gpt2:124m on jax-gpu") for i in sections["Prices"])
    assert [f.name for f in rep.figures] == ["cost", "throughput", "mfu"]
    fastest = next(s for s in rep.summary if "fastest" in s)  # the margin over the runner-up, here the baseline
    assert fastest.startswith("gpt2:124m: fastest is NVIDIA H100 80GB HBM3 (jax-gpu) at ")
    assert "1.11× (" in fastest and "the throughput per chip of the runner-up, NVIDIA H100 80GB HBM3 (torch-cuda, the baseline)" in fastest
    assert any("cheapest is NVIDIA H100 80GB HBM3 (torch-cuda, the baseline)" in s and "(the only case with a price)" in s
               for s in rep.summary)


def test_failures_are_listed_apart(tmp_path):
    write_record(tmp_path / "a.json", synthetic())
    write_record(tmp_path / "b.json", synthetic(backend="torch-xla", status="unavailable",
                                                error={"type": "BackendUnavailable", "message": "torch_xla not installed"}))
    rep = report.build(load.load_folders([tmp_path]), with_plots=False)
    assert [row[0] for row in rep.tables[0].rows] == ["torch-cuda"]
    assert [(f.backend, f.status, f.error_type) for f in rep.failures] == [("torch-xla", "unavailable", "BackendUnavailable")]


@pytest.mark.slow
def test_roofline_against_the_catalog_and_scaling(tmp_path):
    for count in (1, 2, 4):  # a micro kernel at three scales on a catalogued device
        write_record(tmp_path / f"gemm-{count}.json",
                     synthetic(kernel="gemm", tokens=None, flops=1.1e12, bytes_=4e8, count=count, median=0.002 / count))
    write_record(tmp_path / "gemm-cpu.json", synthetic(kernel="gemm", tokens=None, flops=1.1e12, bytes_=4e8,
                                                       backend="torch-cpu", device="Intel Xeon", catalog_key=None))
    rep = report.build(load.load_folders([tmp_path]))
    figures = {f.name: f for f in rep.figures}
    assert set(figures) == {"roofline", "scaling"}
    assert "roofs: min(dense peak" in figures["roofline"].caption
    chip = rep.tables[0].headers.index("chip")
    assert sorted(row[chip] for row in rep.tables[0].rows)[-1] == "NVIDIA H100 80GB HBM3 ×4"  # chips used shown


def test_no_roofline_without_a_roof(tmp_path):
    write_record(tmp_path / "gemm-cpu.json", synthetic(kernel="gemm", tokens=None, flops=1.1e12, bytes_=4e8,
                                                       backend="torch-cpu", device="Intel Xeon", catalog_key=None))
    rep = report.build(load.load_folders([tmp_path]))
    assert "roofline" not in {f.name for f in rep.figures}
    assert any(s.startswith("roofline: no roof to draw") for s in rep.plots_skipped)


def test_an_empty_folder_is_an_error_naming_it(tmp_path, capsys):
    code, out, err = report_cli(capsys, tmp_path)
    assert code == 3 and out == "" and f"no result records in {tmp_path}/" in err


def test_importing_reports_imports_no_framework():
    code = ("import sys, accelbench.reports, accelbench.reports.load, accelbench.reports.report, accelbench.reports.tables, accelbench.reports.compare, "
            "accelbench.reports.methodology, accelbench.reports.html, accelbench.reports.render, accelbench.reports.plots; "
            "assert not {'torch', 'jax'} & set(sys.modules), sorted(set(sys.modules) & {'torch', 'jax'})")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# ----------------------------------------------------------------- marks, references, runs
def test_price_marks_and_unstable_cases_are_marked_in_rows_and_plots(tmp_path):
    what_if = synthetic(backend="torch-cpu", device="AMD EPYC", catalog_key=None, median=0.5,
                        cost={"usd_per_mtok": 40.0, "device_matches": False})  # a record from before cost.marks
    marked = synthetic(cost={"usd_per_mtok": 2.0, "marks": ["stale", "other-region"], "price_source": "p5 (eu)"})
    write_record(tmp_path / "a.json", what_if)
    data = marked.to_dict()
    data["timing"]["unstable"] = ["load average 3.1 on 2 cores"]  # written by the timing checks
    (tmp_path / "b.json").write_text(json.dumps(data))
    rep = report.build(load.load_folders([tmp_path]))
    table = rep.tables[0]
    cost, checks = table.headers.index("$/1M tokens (95% CI)"), table.headers.index("checks")
    rows = {row[0]: row for row in table.rows}
    assert rows["torch-cpu"][cost].endswith("[what-if]")
    assert rows["torch-cuda"][cost].endswith("[stale] [other-region]")
    assert "UNSTABLE: load average 3.1 on 2 cores" in rows["torch-cuda"][checks]
    assert table.flagged[[r[0] for r in table.rows].index("torch-cuda")] is True
    svg = {f.name: f.svg.decode() for f in rep.figures}["cost"]
    assert "what-if" in svg or "[what-if]" in {f.name: f for f in rep.figures}["cost"].caption
    assert "<pattern" in svg  # marked bars are hatched
    flagged = {s.title: s.items for s in rep.sections}["Flagged cases: read these figures with care"]
    assert any("timing UNSTABLE" in i for i in flagged) and any("its price is what-if" in i for i in flagged)
    from accelbench.reports import html as html_render

    page = html_render.document(rep)
    assert '<span class="mark">what-if</span>' in page and '<span class="mark">stale</span>' in page


def test_published_references_are_rows_costed_with_the_catalog_and_hatched(tmp_path, capsys):
    write_record(tmp_path / "llama-8b--torch-cuda.json",
                 synthetic(kernel="llama", device="NVIDIA H100 80GB HBM3", tokens=8192, median=1.0,
                           cost={"usd_per_mtok": 0.9}))
    rec = json.loads((tmp_path / "llama-8b--torch-cuda.json").read_text())
    rec["kernel"]["preset"], rec["kernel"]["config"] = "8b", {"batch": 1, "seq_len": 8192}
    (tmp_path / "llama-8b--torch-cuda.json").write_text(json.dumps(rec))
    code, _, err = report_cli(capsys, tmp_path, "--references", "--md", tmp_path / "r.md", "--html", tmp_path / "r.html")
    assert code == 0, err
    md = (tmp_path / "r.md").read_text()
    table = md.split("## llama:8b")[1].split("###")[0]
    assert table.count("| published: ") == 4 and "| torch-cuda |" in table
    # trn1: 767.2 tokens/s per chip at the catalog's trn1.32xlarge price per chip-hour
    from accelbench.facts import catalog

    price = catalog.load_prices()["trn1.32xlarge"]
    expected = price.usd_per_hour / price.accelerators / (767.2 * 3600) * 1e6
    trn1 = next(line for line in table.splitlines() if line.startswith("| published: NeuronX Distributed"))
    assert f"{expected:.3g}" in trn1 and "[unconfirmed]" in trn1
    assert "published: NeuronX Distributed on trn1 ×512" in table and "differs from our runs" in table
    assert "512 chips (ours: 1)" in table
    html = (tmp_path / "r.html").read_text()
    assert html.count('<tr class="published">') == 8  # headline and detail rows
    svg = (tmp_path / "r_plots" / "cost.svg").read_text()
    assert "<pattern" in svg  # published bars hatched
    assert "### Published reference points" in md and "training_data_decoder.csv" in md
    assert "4 published" not in md.split("\n")[2]  # the case count counts our runs only
    assert md.split("\n")[2].startswith("1 cases from")


def test_the_flop_note_follows_each_row_when_sizes_differ(tmp_path):
    small = synthetic(flops=1e15)
    big = synthetic(backend="jax-gpu", flops=2e15, tokens=32768)
    big.kernel.config = {"batch": 32}
    write_record(tmp_path / "a.json", small)
    write_record(tmp_path / "b.json", big)
    rep = report.build(load.load_folders([tmp_path]), with_plots=False)
    detail = rep.tables[0].detail
    flop = detail.headers.index("FLOP / step")
    assert sorted(row[flop] for row in detail.rows) == ["1,000,000,000,000,000", "2,000,000,000,000,000"]
    assert any("differ between rows" in n for n in detail.notes)
    config = rep.tables[0].headers.index("configuration")
    assert {row[config].split(",")[0] for row in rep.tables[0].rows} == {"batch 16", "batch 32"}


def test_duplicate_folders_and_records_are_read_once_with_a_warning(tmp_path, capsys):
    write_record(tmp_path / "a" / "gpt2-124m--torch-cuda.json", synthetic())
    shutil.copy(tmp_path / "a" / "gpt2-124m--torch-cuda.json", tmp_path / "a" / "copy.json")
    code, out, err = report_cli(capsys, tmp_path / "a", tmp_path / "a")
    assert code == 0
    assert err.count("given twice") == 1 and err.count("duplicate record") == 1, err
    assert out.count("| torch-cuda |") == 2  # headline and detail: one row each


def test_a_case_from_two_runs_shows_the_newest_unless_asked(tmp_path, capsys):
    old, new = synthetic(median=0.2), synthetic(median=0.1)
    new.run_id, new.created_at = "later", "2026-11-27T00:00:00+00:00"
    write_record(tmp_path / "run1" / "gpt2-124m--torch-cuda.json", old)
    write_record(tmp_path / "run2" / "gpt2-124m--torch-cuda.json", new)
    code, out, err = report_cli(capsys, tmp_path / "run1", tmp_path / "run2")
    assert code == 0 and err.count("has records from 2 runs") == 1 and "showing the newest" in err
    assert "163,840" in out and "81,920" not in out  # 16384 tokens / 0.1 s, not / 0.2 s
    code, out, err = report_cli(capsys, tmp_path / "run1", tmp_path / "run2", "--all-runs")
    assert code == 0 and "163,840" in out and "81,920" in out and "run later" in out


def test_records_left_by_an_earlier_run_into_the_folder_are_named(tmp_path):
    from accelbench.harness import planfile
    from accelbench.harness.plan import build_plan

    planfile.write_plan(tmp_path, build_plan(None, ["gpt2:124m"], ["torch-cuda"], []))
    write_record(tmp_path / "gpt2-124m--torch-cuda.json", synthetic())
    write_record(tmp_path / "gpt2-124m--jax-gpu.json", synthetic(backend="jax-gpu"))
    loaded = load.load_folders([tmp_path])
    assert any("not in its latest plan" in w and "gpt2-124m--jax-gpu" in w for w in loaded.warnings)


@pytest.mark.slow
def test_report_html_path_does_not_overwrite_the_markdown(tmp_path, capsys):
    from accelbench.harness.preflight import report_paths

    assert report_paths(str(tmp_path / "r.html"), tmp_path) == (tmp_path / "r.md", tmp_path / "r.html")
    assert report_paths(None, tmp_path) == (tmp_path / "report.md", tmp_path / "report.html")
    code = main(["run", "--kernel", "gemm:tiny", "--backend", "torch-cpu", "--steps", "1", "--repeats", "1",
                 "--warmup", "0", "--quiet", "--out", str(tmp_path / "res"), "--report", str(tmp_path / "r.html")])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")
    assert (tmp_path / "r.md").read_text().startswith("# accelbench results")
