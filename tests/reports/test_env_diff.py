"""`compare` names every stack field that changed between OLD and NEW (issue 21):
one warning line each, so an upgrade is not read as a regression."""

from __future__ import annotations

import dataclasses

import numpy as np

from accelbench.facts import envinfo
from accelbench.harness import stats
from accelbench.harness.cli import main
from accelbench.harness.records import BackendPart, KernelPart, ResultRecord, TimingPart, write_record
from accelbench.reports.env_diff import env_differences

ENV = {"python": "3.11.7", "host": "a", "git_commit": "1", "torch": "2.12.0", "nvidia_driver": None, "kernel": "6.8"}


def record(env: dict) -> dict:
    return {"env": env}


def test_one_line_per_changed_field_naming_old_and_new():
    lines = env_differences([record(ENV)], [record(ENV | {"torch": "2.13.0", "host": "b", "git_commit": "2"})])
    assert lines == ["environment differs: torch 2.12.0 in OLD, 2.13.0 in NEW: a change in step time may come from it"]


def test_null_to_value_counts_and_records_without_env_say_nothing():
    assert len(env_differences([record(ENV)], [record(ENV | {"nvidia_driver": "580.159.04"})])) == 1
    assert env_differences([record(ENV)], [{"status": "ok"}]) == []
    assert env_differences([record(ENV)], [record(dict(ENV))]) == []


def test_compare_over_two_folders_differing_only_in_torch(tmp_path, capsys):
    samples = [float(x) for x in 0.01 * np.exp(np.random.default_rng(0).normal(0.0, 0.02, 20))]
    env = envinfo.capture()
    for folder, torch in (("old", "2.12.0"), ("new", "2.13.0")):
        rec = ResultRecord(
            run_id="synthetic", created_at="2026-12-03T00:00:00+00:00", status="ok",
            kernel=KernelPart(name="gemm", preset="tiny", config={}, flops_per_step=1e9),
            backend=BackendPart(name="torch-cpu", framework="torch", device_kind="test-cpu", precision="fp32"),
            timing=TimingPart(steps=10, repeats=20, samples_s=samples,
                              step_s=dataclasses.asdict(stats.summarize(samples))),
            env=env | {"torch": torch})
        write_record(tmp_path / folder / "gemm-tiny--torch-cpu.json", rec)
    assert main(["compare", str(tmp_path / "old"), str(tmp_path / "new")]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "environment differs" in line]
    assert len(warnings) == 1 and "torch 2.12.0" in warnings[0] and "2.13.0" in warnings[0]
