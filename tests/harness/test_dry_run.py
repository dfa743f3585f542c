"""``accelbench run --dry-run``: the cases, their per-device memory, the
estimated time and cost of the sweep; nothing run, nothing written."""

from __future__ import annotations

import json

import pytest

from accelbench.harness import dryrun, sharding
from accelbench.harness.layout import Layout
from accelbench.harness.plan import Case
from accelbench.harness.measure import new_record


def test_dry_run_prints_cases_time_and_cost_and_writes_nothing(cli, tmp_path):
    out = tmp_path / "out"
    proc = cli("run", "--dry-run", "--kernel", "llama:8b", "--kernel", "gpt2:tiny", "--backend", "torch-cuda",
               "--nproc", "8", "--set", "batch=8", "--set", "shard=fsdp", "--set", "remat=true",
               "--usd-per-hour", "98.32", "--out", out)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("dry run: 2 cases")
    llama = sharding.case_device_memory(Case("llama", "8b", "torch-cuda", {"batch": 8, "remat": True},
                                             {"shard": "fsdp"}, layout=Layout(nproc=8)))
    assert f"{llama.total_bytes / 2**30:.1f} GiB per device" in lines[1] and "shard=fsdp" in lines[1]
    # no --instance: no device to take a peak from, so each case is held to its limit (3600 s and tiny's 300 s)
    assert "≤ 60 min (time limit; no device" in lines[1] and "≤ 5 min (time limit; no device" in lines[2]
    assert "estimated time: 1.08 h" in proc.stdout and "estimated cost: $106.51 at $98.32/h x 1 instance" in proc.stdout
    assert not out.exists()


def test_earlier_records_give_the_time_and_finished_cases_none(tmp_path):
    done, again, new = (Case("gpt2", "tiny", "torch-cpu"), Case("llama", "tiny", "torch-cpu"),
                        Case("gemm", "tiny", "torch-cpu", timeout_s=120.0))
    for case, status in ((done, "ok"), (again, "failed")):
        record = new_record(case, "earlier", status=status).to_dict() | {"wall_s": 42.0}
        (tmp_path / f"{case.case_id}.json").write_text(json.dumps(record))
    estimates = [dryrun.estimate_case(c, tmp_path, resume=True) for c in (done, again, new)]
    assert [(e.basis, e.seconds) for e in estimates] == [("done", 0.0), ("earlier record", 42.0), ("time limit", 120.0)]


def test_physics_time_by_hand_and_whole_instances_priced(capsys):
    """llama:8b, T=4096, batch 8 on 8 H100 (p5.48xlarge): FLOP per step from the kernel, 989.5 bf16 TFLOP/s per
    chip, the MFU torchtitan's H100 figure implies; 35 steps (2 warm-up + 10 x 3 timed + 3 audit) + 60 s guess."""
    from accelbench import kernels
    from accelbench.harness import estimate, plan
    from accelbench.harness.cli import main

    case = next(c for c in plan.build_plan("whole-p5", [], ["torch-cuda"], []) if c.kernel == "llama")
    case = __import__("dataclasses").replace(case, instance="p5.48xlarge")
    got = estimate.physics(case)
    kernel = kernels.get("llama")
    cfg = kernel.config("8b", case.kernel_settings)
    ref_cfg = kernel.config("8b", {"seq_len": 8192})
    mfu = 5762 * kernel.flops_per_step(ref_cfg) / kernel.tokens_per_step(ref_cfg) / 989.5e12  # torchtitan, per GPU
    step = kernel.flops_per_step(cfg) / (989.5e12 * 8 * mfu)
    assert got.mfu == pytest.approx(mfu) and got.step_s == pytest.approx(step) and got.steps == 35
    assert got.seconds == pytest.approx(60 + 35 * step) and "a guess for torch-cuda" in got.compile_basis
    # the v6e-8 slice: 8 chips of a per-chip entry are 8 instances, of the slice entry one: the same dollars
    assert main(["run", "--suite", "whole-v6e-8", "--dry-run", "--instance", "gcp-tpu-v6e"]) == 0
    per_chip = capsys.readouterr().out
    assert main(["run", "--suite", "whole-v6e-8", "--dry-run", "--instance", "v6e-8"]) == 0
    per_slice = capsys.readouterr().out
    assert "$2.70/h x 8 instance(s) for 8 tpu-v6e chips" in per_chip and "$21.60/h x 1 instance(s)" in per_slice
    assert per_chip.split("estimated cost: ")[1].split()[0] == per_slice.split("estimated cost: ")[1].split()[0]
    assert "assumed 35% (no published reference for gpt2 on tpu-v6e)" in per_slice


def test_dry_run_says_which_cases_the_fit_check_would_skip(capsys, monkeypatch):
    from accelbench.harness import fit
    from accelbench.harness.cli import main

    monkeypatch.setattr(fit, "host_available_bytes", lambda: 23 * 2**30)
    assert main(["run", "--dry-run", "--kernel", "llama:8b", "--kernel", "gpt2:tiny", "--backend", "torch-cpu"]) == 0
    out = capsys.readouterr().out
    assert "llama:8b on torch-cpu: 1 device; 469.4 GiB per device; would be SKIPPED: needs about 469.4 GiB" in out
    assert "gpt2:tiny" in out and "1 would be skipped by the fit check" in out


def test_the_run_history_gives_an_earlier_records_time(tmp_path):
    from accelbench.harness.history import LATEST

    case = Case("gpt2", "tiny", "torch-cpu")
    old, new = tmp_path / "run-1", tmp_path / "run-2"
    old.mkdir()
    (tmp_path / LATEST).symlink_to("run-1")
    (old / f"{case.case_id}.json").write_text(json.dumps(new_record(case, "earlier", status="ok").to_dict()
                                                         | {"wall_s": 17.0}))
    got = dryrun.estimate_case(case, new, resume=False)
    assert (got.basis, got.seconds) == ("earlier record", 17.0) and "run-1" in got.detail
