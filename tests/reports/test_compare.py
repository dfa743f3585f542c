"""`accelbench compare OLD NEW`: regressions wholly past the threshold exit 1 naming the case; the same,
faster or too-noisy-to-tell (inconclusive) cases exit 0."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from accelbench.harness import stats
from accelbench.harness.cli import main
from accelbench.harness.records import BackendPart, KernelPart, ResultRecord, TimingPart, write_record
from accelbench.reports import compare
from fakes import CASES, make_record, steady, write_folder  # noqa: F401 (shared with the CI gate tests)


@pytest.fixture
def old(tmp_path):
    return write_folder(tmp_path / "old")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["compare", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_folder_against_itself_exits_0(old, capsys):
    code, out, err = run(capsys, old, old)
    assert code == 0, err
    assert out.count("  same\n") == 3
    assert "regression" not in err


def test_one_case_20_percent_slower_exits_1_naming_it(old, tmp_path, capsys):
    new = write_folder(tmp_path / "new", scale={("gpt2", "torch-cpu"): 1.2})
    code, out, err = run(capsys, old, new)
    assert code == 1
    assert "regression: gpt2-tiny--torch-cpu is 20.0% slower" in err
    assert "gemm" not in err  # only the slowed case is named
    assert "SLOWER" in out and out.count("  same\n") == 2


def test_threshold_above_the_change_exits_0(old, tmp_path, capsys):
    new = write_folder(tmp_path / "new", scale={("gpt2", "torch-cpu"): 1.2})
    code, _, err = run(capsys, old, new, "--threshold", "25")
    assert code == 0, err


def test_faster_is_not_a_regression(old, tmp_path, capsys):
    new = write_folder(tmp_path / "new", scale={("gemm", "jax-cpu"): 0.8})
    code, out, _ = run(capsys, old, new)
    assert code == 0
    assert "faster" in out


def test_a_change_inside_the_noise_is_not_a_regression(tmp_path, capsys):
    noisy = {("gemm", "torch-cpu")}
    old = write_folder(tmp_path / "old", noisy=noisy)
    new = write_folder(tmp_path / "new", noisy=noisy, scale={("gemm", "torch-cpu"): 1.08})
    code, out, _ = run(capsys, old, new)
    assert code == 0
    assert "inconclusive: gemm-tiny--torch-cpu: too noisy to tell" in out


def test_cases_in_one_folder_only_are_listed(old, tmp_path, capsys):
    new = write_folder(tmp_path / "new", drop={("gemm", "jax-cpu")})
    write_record(new / "llama-tiny--torch-cpu.json", make_record("llama", "torch-cpu", steady(0.2)))
    code, out, err = run(capsys, old, new)
    assert code == 1, "NEW lacks a case OLD has"
    assert f"only in {old}: gemm-tiny--jax-cpu" in out
    assert f"only in {new}: llama-tiny--torch-cpu" in out
    assert f"1 case of {old} missing from {new}: gemm-tiny--jax-cpu" in err


def test_new_with_extra_cases_only_exits_0(old, tmp_path, capsys):
    new = write_folder(tmp_path / "new")
    write_record(new / "llama-tiny--torch-cpu.json", make_record("llama", "torch-cpu", steady(0.2)))
    assert run(capsys, old, new)[0] == 0


def test_an_empty_new_folder_exits_1(old, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, out, err = run(capsys, old, tmp_path / "empty")
    assert code == 1
    assert "holds no result records; 3 cases of" in err and "gemm-tiny--torch-cpu" in err


def test_a_negative_step_time_is_a_bad_file_never_a_speed_up(old, tmp_path, capsys):
    new = write_folder(tmp_path / "new")
    path = new / "gemm-tiny--torch-cpu.json"
    data = json.loads(path.read_text())
    data["timing"]["step_s"]["median"] = -0.01
    data["timing"]["samples_s"] = [-0.01] * 30
    path.write_text(json.dumps(data))
    code, out, err = run(capsys, old, new)
    assert code == 1, "the case is missing from NEW once its bad file is skipped"
    assert err.count("warning: skipped") == 1 and "gemm-tiny--torch-cpu.json" in err and "step_s.median" in err
    assert "faster" not in out and "-200" not in out


def test_one_folder_compares_its_latest_run_with_the_one_before(tmp_path, capsys):
    from accelbench.harness import history

    root = tmp_path / "results"
    write_folder(root / "20261101T000000Z-aaaaaa")
    write_folder(root / "20261102T000000Z-bbbbbb", scale={("gemm", "torch-cpu"): 1.5})
    write_folder(root / "20261103T000000Z-cccccc")  # newer than latest: not the one compared
    history.point_latest(root, "20261102T000000Z-bbbbbb")
    code, out, err = run(capsys, root)
    assert code == 1 and "gemm-tiny--torch-cpu is 50" in err
    assert "20261102T000000Z-bbbbbb against" in out and out.split("against ")[1].startswith(str(root / "20261101"))
    (root / "latest").unlink()
    (root / "latest").write_text("20261101T000000Z-aaaaaa\n")  # the pointer as a file, where symlinks fail
    code, _, err = run(capsys, root)
    assert code == 2 and "no earlier run" in err


def test_a_case_that_now_fails_is_a_regression(old, tmp_path, capsys):
    new = write_folder(tmp_path / "new", fail={("gemm", "torch-cpu")})
    code, _, err = run(capsys, old, new)
    assert code == 1
    assert "regression: gemm-tiny--torch-cpu ran ok" in err and "SIGKILL" in err


def test_bad_input_exits_2_with_one_line(old, tmp_path, capsys):
    code, _, err = run(capsys, old, tmp_path / "missing")
    assert code == 2 and err.count("\n") == 1 and "not a results folder" in err
    code, _, err = run(capsys, old, old, "--threshold", "-1")
    assert code == 2 and "--threshold" in err


def test_bad_files_are_warned_about_not_fatal(old, tmp_path, capsys):
    new = write_folder(tmp_path / "new")
    (new / "broken.json").write_text('{"schema": "accelbench.result/1", "status": "o')
    code, _, err = run(capsys, old, new)
    assert code == 0
    assert "warning: skipped" in err and "broken.json" in err


def test_bootstrap_interval_of_the_ratio():
    a = steady(1.0, n=40, seed=1)
    lo, hi = compare.ratio_of_medians_ci(a, a)
    assert lo < 1 < hi
    lo, hi = compare.ratio_of_medians_ci(a, a * 1.2)
    assert 1.1 < lo < 1.2 < hi < 1.3


def test_without_samples_the_stored_intervals_are_used():
    old = make_record("gemm", "torch-cpu", steady(0.01)).to_dict()
    new = make_record("gemm", "torch-cpu", steady(0.01) * 1.5).to_dict()
    for rec in (old, new):
        rec["timing"]["samples_s"] = []
    change = compare.compare_case("gemm-tiny--torch-cpu", old, new, 0.05)
    assert change.verdict == compare.SLOWER and "stored 95% intervals" in change.note


def test_recheck_calls_a_machine_that_drifted_between_runs_inconclusive(tmp_path):
    """A, B, A: the machine slowed 1.5x after the base run and stayed slow. NEW alone looks 50% slower;
    the base's re-run is as slow, so nothing is blamed on the change."""
    old = write_folder(tmp_path / "old")
    slow_machine = {case: 1.5 for case in CASES}
    new = write_folder(tmp_path / "new", scale=slow_machine)
    assert all(c.verdict == compare.SLOWER for c in compare.compare_folders(old, new).changes)
    again = write_folder(tmp_path / "again", scale=slow_machine)
    result = compare.compare_folders(old, new, recheck_dir=again)
    assert all(c.verdict == compare.INCONCLUSIVE and c.note.startswith("the machine drifted") for c in result.changes)
    assert result.exit_status() == 0 and result.exit_status(strict=True) == 1


def test_recheck_keeps_a_real_slowdown_and_asks_for_every_case(tmp_path):
    old = write_folder(tmp_path / "old")
    new = write_folder(tmp_path / "new", scale={("gpt2", "torch-cpu"): 1.2})
    again = write_folder(tmp_path / "again", drop=[("gemm", "jax-cpu")])
    verdicts = {c.case_id: (c.verdict, c.note) for c in compare.compare_folders(old, new, recheck_dir=again).changes}
    assert verdicts["gpt2-tiny--torch-cpu"][0] == compare.SLOWER
    assert verdicts["gemm-tiny--torch-cpu"][0] == compare.SAME
    assert verdicts["gemm-tiny--jax-cpu"] == (compare.INCONCLUSIVE, "not in the base's re-run (--recheck): drift "
                                                                    "cannot be ruled out")


def test_recheck_from_the_command_line(tmp_path, capsys):
    from accelbench.harness.cli import main

    old = write_folder(tmp_path / "old")
    new = write_folder(tmp_path / "new", scale={("gpt2", "torch-cpu"): 1.2})
    again = write_folder(tmp_path / "again")
    assert main(["compare", str(old), str(new), "--recheck", str(again)]) == 1
    assert "gpt2-tiny--torch-cpu is 20" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    empty_old = main(["compare", str(empty), str(new)])  # the status of "nothing found", as for an empty OLD
    capsys.readouterr()
    assert empty_old != 0 and main(["compare", str(old), str(new), "--recheck", str(empty)]) == empty_old
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nothing to recheck against" in err[0] and str(empty) in err[0]
    assert main(["compare", str(old), str(new), "--recheck", str(tmp_path / "missing")]) in (2, empty_old)
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
