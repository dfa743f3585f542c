"""Data-parallel cases: ``accelbench run --nproc N`` (accelbench.harness.launch, accelbench.backends.data_parallel).

The default tier checks the plan, the commands, the batch split, the scaling
and failure bookkeeping without starting a distributed run; the tests marked
``distributed`` run real torchrun + DDP (gloo) and JAX mesh cases on the CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

from accelbench import kernels
from accelbench.backends.data_parallel import shard_rows
from accelbench.harness.launch import case_command, forensics
from accelbench.harness.launch.layout_checks import with_layout
from accelbench.harness.launch.torchrun import TorchrunLauncher
from accelbench.harness.layout import Layout
from accelbench.kernels.precision import policy
from accelbench.harness.plan import Case
from accelbench.harness.scaling import annotate_scaling
from accelbench.harness.records import BackendPart, KernelPart, MetricsPart, ResultRecord, load_record, write_record

FP32 = policy("fp32").tolerance


def test_importing_the_distributed_modules_imports_no_framework():
    code = ("import sys, accelbench.harness.launch, accelbench.harness.launch.__main__, accelbench.backends.data_parallel;"
            "bad=[m for m in ('torch','jax','jaxlib') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("args, needle", [
    (["--kernel", "gemm:tiny", "--nproc", "2"], "kernel 'gemm' is not one; accepted: gpt2"),
    (["--kernel", "gpt2:tiny", "--backend", "jax-cpu", "--nproc", "4"], "does not split evenly over 4 devices"),
    (["--kernel", "gpt2:tiny", "--nproc", "0"], "--nproc must be >= 1"),
    (["--kernel", "gpt2:tiny", "--nproc", "2", "--nnodes", "2"], "needs --master-addr"),
    (["--kernel", "gpt2:tiny", "--nnodes", "2", "--node-rank", "2", "--master-addr", "h"], "must be below --nnodes 2"),
])
def test_bad_layouts_are_one_line_and_exit_2(cli, tmp_path, args, needle):
    out_dir = tmp_path / "out"
    proc = cli("run", *args, "--out", out_dir)
    assert_one_line_error(proc.returncode, proc.stderr, needle)
    assert not out_dir.exists()


def test_layout_changes_the_case_id_and_the_command():
    one = Case("gpt2", "tiny", "torch-cpu")
    [two] = with_layout([one], Layout(nproc=2))
    assert (two.layout.nproc, two.case_id, one.case_id) == (2, "gpt2-tiny--torch-cpu--dp2", "gpt2-tiny--torch-cpu")
    assert case_command(one, "c", "r", "id")[1:4] == ["-m", "accelbench.harness.launch", "inline"]
    assert case_command(two, "c", "r", "id")[1:4] == ["-m", "accelbench.harness.launch", "torchrun"]
    jax_two = with_layout([Case("gpt2", "tiny", "jax-cpu")], Layout(nproc=2))[0]
    assert case_command(jax_two, "c", "r", "id")[1:4] == ["-m", "accelbench.harness.launch", "jaxmesh"]
    cmd = TorchrunLauncher().torchrun_command(two, "c", "r", "id")
    assert "--standalone" in cmd and "--nproc-per-node=2" in cmd and cmd[-6:] == ["accelbench.harness.launch", "torchrun", "c", "r", "id", "--worker"]
    four = Case("gpt2", "tiny", "torch-cpu", kernel_settings={"batch": 4})
    [multi] = with_layout([four], Layout(nproc=2, nnodes=2, node_rank=1, master_addr="10.0.0.1"))
    cmd = TorchrunLauncher().torchrun_command(multi, "c", "r", "id")
    assert {"--nnodes=2", "--node-rank=1", "--master-addr=10.0.0.1", "--master-port=29500"} <= set(cmd)
    assert multi.case_id.endswith("--dp2x2")


def test_a_case_holds_its_layout_and_flat_plan_files_still_load(tmp_path):
    from accelbench.harness.planfile import load_plan, write_plan

    [two] = with_layout([Case("gpt2", "tiny", "torch-cpu")], Layout(nproc=2))
    assert two.to_dict()["layout"]["nproc"] == 2 and "nproc" not in two.to_dict()
    write_plan(tmp_path, [two])
    assert load_plan(tmp_path) == [two]
    flat = {"kernel": "gpt2", "preset": "tiny", "backend": "torch-cpu", "nproc": 2, "nnodes": 1, "node_rank": 0,
            "master_addr": "", "master_port": 0, "rdzv_endpoint": ""}  # a plan.json written before Case.layout
    (tmp_path / "plan.json").write_text(json.dumps({"schema": "accelbench.plan/1", "cases": [flat]}))
    assert load_plan(tmp_path) == [two]
    (tmp_path / "plan.json").write_text(json.dumps({"schema": "accelbench.plan/1",
                                                    "cases": [{**flat, "nproc": 0}]}))
    with pytest.raises(Exception, match="field 'nproc' must be an integer >= 1"):
        load_plan(tmp_path)


def test_shards_of_the_global_batch_are_its_rows_and_share_the_weights():
    kernel = kernels.get("gpt2")
    cfg = kernel.config("tiny", {"batch": 4})
    state = kernel.make_state(cfg)
    shards = [shard_rows(kernel, cfg, state, rank, 2) for rank in range(2)]
    assert all(local_cfg.batch == 2 for local_cfg, _ in shards)
    for key in ("idx", "targets"):
        np.testing.assert_array_equal(np.concatenate([s[key] for _, s in shards]), state[key])
    assert all(s["wte.weight"] is state["wte.weight"] for _, s in shards)


def _record(tmp_path, name, batch, tokens_per_s, parallel=None) -> dict:
    record = ResultRecord(run_id="r", created_at="now", status="ok",
                          kernel=KernelPart("gpt2", "tiny", {"batch": batch, "n_layer": 2}),
                          backend=BackendPart("torch-cpu", "torch", device_count=parallel["devices"] if parallel else 1,
                                              info={"parallel": parallel} if parallel else {}),
                          metrics=MetricsPart(tokens_per_s=tokens_per_s))
    write_record(tmp_path / name, record)
    return load_record(tmp_path / name)


def test_scaling_efficiency_prefers_the_same_per_device_batch(tmp_path):
    parallel = {"devices": 4, "global_batch": 8, "per_device_batch": 2}
    data = _record(tmp_path, "dp4.json", 8, 3000.0, parallel)
    annotate_scaling(data, tmp_path)
    assert data["backend"]["info"]["parallel"]["scaling"]["efficiency"] is None
    _record(tmp_path, "strong.json", 8, 1000.0)
    annotate_scaling(data, tmp_path)
    assert data["backend"]["info"]["parallel"]["scaling"] == {
        "kind": "strong", "baseline": "strong.json", "baseline_tokens_per_s": 1000.0, "efficiency": 0.75}
    _record(tmp_path, "weak.json", 2, 1500.0)
    _record(tmp_path, "other.json", 4, 10.0)  # neither the global nor the per-device batch
    annotate_scaling(data, tmp_path)
    assert data["backend"]["info"]["parallel"]["scaling"]["kind"] == "weak"
    assert data["backend"]["info"]["parallel"]["scaling"]["efficiency"] == pytest.approx(0.5)


TORCHRUN_SUMMARY = """torch.distributed.elastic.multiprocessing.errors.ChildFailedError:
Failures:
[1]:
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 27934)  (SIGTERM)
-------------------------------------------------------
Root Cause (first observed failure):
[0]:
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 27935)  (SIGKILL)
"""


def test_failure_names_the_rank_that_failed_first(tmp_path):
    (tmp_path / "rank-0.error.json").write_text(json.dumps({"rank": 0, "type": "RuntimeError", "message": "peer gone", "time": 2.0}))
    (tmp_path / "rank-3.error.json").write_text(json.dumps({"rank": 3, "type": "ValueError", "message": "bad", "time": 1.0}))
    error = forensics.rank_failure(tmp_path, 4, 1, "")
    assert error["rank"] == 3 and error["message"].startswith("rank 3 of 4 failed: ValueError: bad; then rank 0")
    (tmp_path / "rank-3.error.json").unlink()
    error = forensics.rank_failure(tmp_path, 2, 1, TORCHRUN_SUMMARY)  # rank 1 died without a word
    assert error["rank"] == 1 and error["message"].startswith("rank 1 of 2 died of SIGKILL")
    assert forensics.rank_failure(tmp_path / "none", 2, 3, "boom")["type"] == "LaunchFailure"


# ------------------------------------------------------------ real runs
def _run(cli, out, *args, env_extra=None, timeout=600):
    env = {**os.environ, **(env_extra or {})}
    proc = cli("run", *args, "--out", out, "--steps", "2", "--repeats", "1", "--warmup", "0", env=env, timeout=timeout)
    return proc


def _assert_same_losses(one: dict, many: dict) -> None:
    for key in ("loss_first", "loss_last"):
        a, b = one["numerics"][key], many["numerics"][key]
        assert abs(a - b) <= FP32 * abs(a), (key, a, b)


@pytest.mark.distributed
def test_torch_cpu_two_ranks_compute_the_one_process_step(cli, tmp_path):
    out = tmp_path / "out"
    base = ["--kernel", "gpt2:tiny", "--backend", "torch-cpu"]
    assert _run(cli, out, *base).returncode == 0
    proc = _run(cli, out, *base, "--nproc", "2", "--resume")  # --resume: add a case to the folder
    assert proc.returncode == 0, proc.stderr
    one, two = load_record(out / "gpt2-tiny--torch-cpu.json"), load_record(out / "gpt2-tiny--torch-cpu--dp2.json")
    assert two["status"] == "ok", two["error"]
    assert two["backend"]["device_count"] == 2 and two["numerics"]["passed"] is True
    _assert_same_losses(one, two)
    parallel = two["backend"]["info"]["parallel"]
    assert parallel["engine"].endswith("gloo") and parallel["per_device_batch"] == 1
    assert parallel["tokens_per_s_per_device"] == pytest.approx(two["metrics"]["tokens_per_s"] / 2)
    assert parallel["grad_allreduce"]["measured"] and parallel["grad_allreduce"]["median_s"] > 0
    assert parallel["scaling"]["kind"] == "strong" and parallel["scaling"]["baseline"] == "gpt2-tiny--torch-cpu.json"


@pytest.mark.distributed
def test_jax_cpu_four_devices_compute_the_one_device_step(cli, tmp_path):
    out = tmp_path / "out"
    base = ["--kernel", "gpt2:tiny", "--backend", "jax-cpu", "--set", "batch=4"]
    assert _run(cli, out, *base).returncode == 0
    proc = _run(cli, out, *base, "--nproc", "4", "--resume")  # --resume: add a case to the folder
    assert proc.returncode == 0, proc.stderr
    records = {p.name: load_record(p) for p in out.glob("gpt2-*.json")}
    [one] = [r for n, r in records.items() if not n.endswith("--dp4.json")]
    [four] = [r for n, r in records.items() if n.endswith("--dp4.json")]
    assert four["status"] == "ok", four["error"]
    assert four["backend"]["device_count"] == 4 and four["numerics"]["passed"] is True
    assert four["backend"]["info"]["mesh"] == {"data": 4} and four["backend"]["info"]["hlo_all_reduce_ops"] >= 1
    _assert_same_losses(one, four)
    assert four["backend"]["info"]["parallel"]["scaling"]["kind"] == "strong"


@pytest.mark.distributed
@pytest.mark.parametrize("variable, words", [
    ("ACCELBENCH_TEST_FAIL_RANK", "rank 1 of 2 failed: RuntimeError: injected failure on rank 1"),
    ("ACCELBENCH_TEST_KILL_RANK", "rank 1 of 2 died of SIGKILL"),
])
def test_a_failing_rank_fails_the_case_and_is_named(cli, tmp_path, variable, words):
    out = tmp_path / "out"
    start = time.monotonic()
    proc = _run(cli, out, "--kernel", "gpt2:tiny", "--backend", "torch-cpu", "--nproc", "2", "--timeout", "240",
                env_extra={variable: "1"})
    assert time.monotonic() - start < 240
    record = load_record(out / "gpt2-tiny--torch-cpu--dp2.json")
    assert proc.returncode == 1 and record["status"] == "failed"
    assert record["error"]["rank"] == 1 and record["error"]["message"].startswith(words), record["error"]["message"]
    assert record["backend"]["device_count"] == 2


def _processes_with(marker: str) -> list[int]:
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


@pytest.mark.distributed
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_hung_rank_is_stopped_by_the_timeout_and_leaves_no_process(cli, tmp_path):
    marker = f"accelbench-test-{uuid.uuid4().hex}"
    proc = _run(cli, tmp_path / "out", "--kernel", "gpt2:tiny", "--backend", "torch-cpu", "--nproc", "2",
                "--timeout", "30", env_extra={"ACCELBENCH_TEST_HANG_RANK": "1", "ACCELBENCH_TEST_MARKER": marker})
    record = load_record(tmp_path / "out" / "gpt2-tiny--torch-cpu--dp2.json")
    assert proc.returncode == 1 and record["error"]["type"] == "Timeout", record["error"]
    time.sleep(1)
    assert _processes_with(marker) == [], "ranks outlived the case's timeout"
