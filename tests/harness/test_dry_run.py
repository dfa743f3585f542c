"""``accelbench run --dry-run``: the cases, their per-device memory, the
estimated time and cost of the sweep; nothing run, nothing written."""

from __future__ import annotations

import json

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
    assert lines[0].startswith("dry run: 2 case(s)")
    llama = sharding.case_device_memory(Case("llama", "8b", "torch-cuda", {"batch": 8, "remat": True},
                                             {"shard": "fsdp"}, layout=Layout(nproc=8)))
    assert f"{llama.total_bytes / 2**30:.1f} GiB per device" in lines[1] and "shard=fsdp" in lines[1]
    assert "≤ 60 min (time limit)" in lines[1] and "≤ 5 min (time limit)" in lines[2]  # 3600 s and tiny's 300 s
    assert "estimated time: 1.08 h" in proc.stdout and "estimated cost: $106.51 at $98.32/h" in proc.stdout
    assert not out.exists()


def test_earlier_records_give_the_time_and_finished_cases_none(tmp_path):
    done, again, new = (Case("gpt2", "tiny", "torch-cpu"), Case("llama", "tiny", "torch-cpu"),
                        Case("gemm", "tiny", "torch-cpu", timeout_s=120.0))
    for case, status in ((done, "ok"), (again, "failed")):
        record = new_record(case, "earlier", status=status).to_dict() | {"wall_s": 42.0}
        (tmp_path / f"{case.case_id}.json").write_text(json.dumps(record))
    estimates = [dryrun.estimate_case(c, tmp_path, resume=True) for c in (done, again, new)]
    assert [(e.basis, e.seconds) for e in estimates] == [("done", 0.0), ("earlier record", 42.0), ("time limit", 120.0)]
