"""Run history (results/<run id>/ and results/latest, compare and --resume
on it) and the case folders a SIGKILL leaves in the temp dir."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from accelbench.harness import runner

CPU = ["--backend", "torch-cpu"]
QUICK = ["--steps", "2", "--repeats", "1", "--warmup", "0"]


def test_case_folders_of_a_dead_runner_are_removed_and_others_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid now names no process (pids are not reused this fast)
    orphan = tmp_path / f"{runner.CASE_DIR_PREFIX}orphan"
    mine = tmp_path / f"{runner.CASE_DIR_PREFIX}mine"
    unowned = tmp_path / f"{runner.CASE_DIR_PREFIX}unowned"
    for folder, owner in ((orphan, dead.pid), (mine, os.getpid()), (unowned, None)):
        folder.mkdir()
        (folder / "case.json").write_text("{}")
        if owner is not None:
            (folder / runner.OWNER_FILE).write_text(str(owner))
    assert runner.remove_orphan_case_dirs(str(tmp_path)) == [orphan]
    assert not orphan.exists() and mine.exists() and unowned.exists()


@pytest.mark.slow
def test_run_without_out_keeps_a_history_and_compare_takes_the_last_two(cli, tmp_path):
    from accelbench.harness import history

    args = ["run", "--kernel", "gemm:tiny", *CPU, *QUICK, "--quiet"]
    first = cli(*args, cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    root = tmp_path / "results"
    (run1,) = history.runs(root)
    assert history.latest(root) == run1 and (run1 / "report.md").exists() and (run1 / "report.html").exists()
    second = cli(*args, cwd=tmp_path, timeout=300)
    assert second.returncode == 0, second.stderr
    run1_, run2 = history.runs(root)
    assert run1_ == run1 and history.latest(root) == run2, "latest follows the newest run"
    assert (run1 / "gemm-tiny--torch-cpu.json").exists(), "the older run is kept apart, not overwritten"
    compared = cli("compare", "results", "--threshold", "100000", cwd=tmp_path, timeout=120)
    assert compared.returncode == 0, compared.stderr
    assert f"results/{run2.name} against results/{run1.name}" in compared.stdout
    resumed = cli("run", "--resume", cwd=tmp_path, timeout=300)
    assert resumed.returncode == 0 and "(kept from an earlier run)" in resumed.stderr, resumed.stderr
    assert history.runs(root) == [run1, run2], "--resume alone finishes the latest run, in place"
    reported = cli("report", "results", cwd=tmp_path, timeout=120)
    assert reported.returncode == 3 and "no result records in results/; give results/latest" in reported.stderr
