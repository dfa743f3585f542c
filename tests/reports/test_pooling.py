"""`report --pool-runs`: a case's runs pooled into one row, its interval a two-level bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from accelbench.harness import stats
from accelbench.harness.cli import main
from accelbench.harness.records import write_record
from accelbench.reports import pooling

from fakes import priced_record as record

windows = st.lists(st.floats(1e-4, 10.0, allow_nan=False, allow_infinity=False), min_size=1, max_size=15)


@settings(max_examples=40, deadline=None)
@given(windows)
def test_pooling_one_run_gives_that_runs_interval(samples):
    assert pooling.two_level_median_ci([samples]) == stats.bootstrap_median_ci(samples)


@settings(max_examples=25, deadline=None)
@given(st.lists(windows, min_size=2, max_size=5))
def test_the_pooled_interval_lies_within_the_windows_and_holds_the_pooled_median(runs):
    lo, hi = pooling.two_level_median_ci(runs)
    everything = np.concatenate([np.asarray(r) for r in runs])
    assert everything.min() <= lo <= hi <= everything.max()


def _three_runs(tmp_path, medians=(0.10, 0.12, 0.14)):
    folders = []
    for i, median in enumerate(medians):
        rec = record("h100-sxm", "H100", "p5.48xlarge", median=median)
        rec.run_id, rec.created_at = f"run-{i}", f"2026-12-0{i + 1}T00:00:00+00:00"
        rec.timing.samples_s = list(median * np.exp(np.random.default_rng(i).normal(0, 0.01, 12)))
        rec.timing.step_s = {**rec.timing.step_s, **{"median": float(np.median(rec.timing.samples_s))}}
        rec.env = {"host": f"ip-10-0-0-{i}"}
        folder = tmp_path / f"run-{i}"
        folder.mkdir()
        write_record(folder / "gpt2-124m--b.json", rec)
        folders.append(folder)
    return folders


def test_three_runs_whose_medians_differ_pool_into_one_row_covering_them(tmp_path, capsys):
    folders = _three_runs(tmp_path)
    csv, md = tmp_path / "r.csv", tmp_path / "r.md"
    assert main(["report", *map(str, folders), "--pool-runs", "--csv", str(csv), "--md", str(md)]) == 0
    import pandas as pd

    df = pd.read_csv(csv)
    assert len(df) == 1 and df["pooled.runs"][0] == 3 and df["pooled.hosts"][0] == 3
    lo, hi = (float(x) for x in df["timing.step_s.ci95"][0].strip("[]").split(","))
    medians = [float(m) for m in df["pooled.run_medians_s"][0].strip("[]").split(",")]
    assert lo <= min(medians) and max(medians) <= hi  # the pooled interval covers every run's median
    text = md.read_text()
    assert "## Runs pooled (--pool-runs)" in text and "| 3 runs (few: widened) | 3 |" in text
    spread = (max(medians) - min(medians)) / df["timing.step_s.median"][0]
    assert f"{spread:.1%}" in text and "between runs" in text  # between-run spread dominates here


def test_without_pool_runs_the_newest_run_is_shown(tmp_path, capsys):
    folders = _three_runs(tmp_path)
    csv = tmp_path / "r.csv"
    assert main(["report", *map(str, folders), "--csv", str(csv)]) == 0
    import pandas as pd

    assert len(pd.read_csv(csv)) == 1 and "pooled.runs" not in pd.read_csv(csv).columns


def _history(tmp_path, medians):
    from accelbench.harness.history import LATEST

    names = [f"20261201T00000{i}Z-00000{i}" for i in range(len(medians))]
    for i, (name, median) in enumerate(zip(names, medians)):
        rec = record("h100-sxm", "H100", "p5.48xlarge", median=median)
        rec.run_id, rec.created_at = name, f"2026-12-01T00:00:0{i}+00:00"
        rec.timing.samples_s = list(median * np.exp(np.random.default_rng(i).normal(0, 0.01, 12)))
        rec.timing.step_s = {**rec.timing.step_s, "median": float(np.median(rec.timing.samples_s)),
                             "ci95": list(stats.bootstrap_median_ci(rec.timing.samples_s))}
        (tmp_path / name).mkdir()
        write_record(tmp_path / name / "gpt2-124m--b.json", rec)
    (tmp_path / LATEST).symlink_to(names[-1])
    return tmp_path


@pytest.mark.parametrize("latest, code, verdict", [(0.13, 0, "inconclusive"), (0.16, 1, "slower")])
def test_compare_gates_on_the_pooled_earlier_runs(tmp_path, capsys, latest, code, verdict):
    root = _history(tmp_path, (0.10, 0.12, 0.14, latest))
    assert main(["compare", str(root), "--pool-runs"]) == code
    out = capsys.readouterr().out
    assert "two-level" in out and verdict in out.lower()


def test_compare_pool_runs_needs_a_history(tmp_path, capsys):
    from conftest import assert_one_line_error

    root = _history(tmp_path, (0.10, 0.12))
    assert_one_line_error(main(["compare", str(root / "20261201T000000Z-000000"), str(root / "20261201T000001Z-000001"),
                                "--pool-runs"]), capsys.readouterr().err, "--pool-runs pools a run history")


def test_pooled_runs_give_the_time_before_the_first_step_a_range(tmp_path):
    from accelbench.reports import training_cost as tc

    folders = _three_runs(tmp_path)
    loaded = __import__("accelbench.reports.load", fromlist=["x"]).load_folders(folders, all_runs=True)
    for i, r in enumerate(sorted(loaded.records, key=lambda r: r["created_at"])):
        r["timing"]["compile_s"], r["timing"]["setup_s"] = 30.0 + 10 * i, 5.0
    records, _ = pooling.pool_records(loaded.records)
    job = tc.job_cost(records[0], 1e9)
    warmup = 2 * records[0]["timing"]["step_s"]["median"]
    assert job.before_range_s == pytest.approx((35.0 + warmup, 55.0 + warmup))  # setup 5 + compile 30..50 + warm-up
