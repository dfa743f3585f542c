"""A sweep survives crashes, hangs, out-of-memory, NaN losses, interruptions
and bad input, and never loses a result.

The fast tests run the real command line in-process (bad input) or one small
case in a subprocess; the ones that kill processes or wait on timeouts are
marked ``slow`` (.ci/run runs them).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error

from accelbench.harness import cli, fit, planfile, runner
from accelbench.harness.plan import Case, PlanError, build_plan
from accelbench.harness.records import PLAN_FILE, load_record, record_files

CPU = ["--backend", "torch-cpu"]
QUICK = ["--steps", "2", "--repeats", "1", "--warmup", "0"]


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder`` with its mtime and bytes, to prove nothing was touched."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes()) for p in folder.rglob("*") if p.is_file()}


def records_by_kernel(folder: Path) -> dict[str, dict]:
    return {f"{r['kernel']['name']}:{r['kernel']['preset']}@{r['backend']['name']}": r
            for r in (load_record(p) for p in record_files(folder))}


def start_cli(*args, tmpdir: Path) -> subprocess.Popen:
    """The CLI in the background; TMPDIR marks its case processes so a test can find them."""
    env = {**os.environ, "TMPDIR": str(tmpdir)}
    return subprocess.Popen([sys.executable, "-m", "accelbench.harness.cli", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def case_processes(tmpdir: Path) -> list[int]:
    """Live worker processes whose case file lies under ``tmpdir``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if b"accelbench.harness.launch" in cmdline and any(str(tmpdir).encode() in a for a in cmdline) and state != "Z":
            found.append(int(entry.name))
    return found


def wait_for(predicate, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


# ------------------------------------------------------------------ bad input
BAD_RUNS = [
    (["--kernel", "gpt2:tiny", "--set", "batch=0"], "'batch' of kernel 'gpt2' must be >= 1"),
    (["--kernel", "gpt2:tiny", "--set", "batch=-4"], "must be >= 1, got -4"),
    (["--kernel", "gemm:tiny", "--set", "m=-1"], "'m' of kernel 'gemm' must be >= 1"),
    (["--kernel", "gpt2:tiny", "--set", "seed=-1"], "'seed' of kernel 'gpt2' must be >= 0"),
    (["--kernel", "gpt2:tiny", "--set", "lr=nan"], "expected a finite number"),
    (["--kernel", "gpt2:tiny", "--set", "lr=inf"], "expected a finite number"),
    (["--kernel", "gpt2:tiny", "--set", "batch="], "expected an integer"),
    (["--kernel", "gpt2:tiny", "--set", "=3"], "expected key=value"),
    (["--kernel", "gpt2:tiny", "--set", "batch=2", "--set", "batch=3"], "--set batch given twice"),
    (["--kernel", "gemm:tiny", "--kernel", "gemm:tiny"], "given twice"),
    (["--kernel", "gemm", "--kernel", "gemm:tiny"], "asked for twice"),
    (["--kernel", "gemm:tiny", "--backend", "torch-cpu", "--backend", "torch-cpu"], "--backend 'torch-cpu' given twice"),
    (["--kernel", "gemm:tiny", "--set", "precision=fp8"], "unknown precision 'fp8'"),
    (["--kernel", "gemm:tiny", "--timeout", "0"], "--timeout must be a positive number"),
    (["--kernel", "gemm:tiny", "--timeout", "nan"], "argument --timeout: 'nan' is not a duration; accepted"),
    (["--kernel", "gemm:tiny", "--timeout", "-5"], "--timeout must be a positive number"),
    (["--kernel", "gemm:tiny", "--steps", "0"], "--steps must be >= 1"),
    (["--kernel", "gemm:tiny", "--set", "ba\ntch=1"], "unknown --set key"),
    (["--kernel", ""], "unknown kernel ''"),
    (["--kernel", "gemm:tiny", "--backend", ""], "unknown backend ''"),
    # settings checked against the kernel and backend, constraints between settings included
    (["--kernel", "gemm:tiny", "--set", "threads=0"], "setting 'threads' of backend 'torch-cpu' must be an integer >= 1"),
    (["--kernel", "gemm:tiny", "--set", "threads=-2"], "must be an integer >= 1"),
    (["--kernel", "gpt2:tiny", "--set", "lr=-0.001"], "setting 'lr' of kernel 'gpt2' must be 0 or more"),
    (["--kernel", "llama:tiny", "--set", "weight_decay=-1"], "setting 'weight_decay' of kernel 'llama' must be 0 or more"),
    (["--kernel", "adamw:tiny", "--set", "beta2=1"], "setting 'beta2' of kernel 'adamw' must be from 0 up to"),
    (["--kernel", "gpt2:tiny", "--set", "eps=0"], "setting 'eps' of kernel 'gpt2' must be above 0"),
    (["--kernel", "gpt2:tiny", "--set", "n_head=5"], "n_head (5) must divide d_model (64)"),
    (["--kernel", "llama:tiny", "--set", "n_head=3"], "must be n_head (3) × an even head_dim"),
    # flags that contradict each other
    (["--kernel", "gpt2:tiny", "--nproc", "2", "--nnodes", "2", "--node-rank", "0", "--master-addr", "10.0.0.1",
      "--rdzv-endpoint", "10.0.0.1:29400"], "--rdzv-endpoint and --master-addr both say where node 0 is"),
    (["--kernel", "gemm:tiny", "--quiet", "--progress", "jsonl"], "--quiet and --progress jsonl contradict"),
    (["--kernel", "gemm:tiny", "--resume", ""], "--resume '': expected a results folder"),
    # a report path that cannot be written, found before the first case
    (["--kernel", "gemm:tiny", "--report", "/proc/accelbench-nowhere/r.md"], "--report /proc/accelbench-nowhere/r.md"),
    (["--kernel", "gemm:tiny", "--report", "/etc/hostname/r.html"], "its folder /etc/hostname exists and is not a folder"),
]


@pytest.mark.parametrize("args, needle", BAD_RUNS)
def test_bad_run_input_is_one_line_exit_2_and_touches_nothing(tmp_path, capsys, args, needle):
    out = tmp_path / "results"
    out.mkdir()
    (out / "gemm-tiny--torch-cpu.json").write_text('{"an": "earlier result"}')
    before = snapshot(out)
    code = cli.main(["run", *args, "--out", str(out)])
    assert_one_line_error(code, capsys.readouterr().err, needle)
    assert snapshot(out) == before
    fresh = tmp_path / "fresh"
    assert cli.main(["run", *args, "--out", str(fresh)]) == 2
    assert not fresh.exists(), "bad input must not create the results folder"


@pytest.mark.parametrize(
    "text, needle",
    [
        ("kernels = [\"gemm:tiny\"\nbackends = [", "not valid TOML"),
        ("kernels = []\nbackends = [\"torch-cpu\"]", "'kernels' must be a non-empty list"),
        ("kernels = [\"gemm:tiny\"]\nbackends = [\"torch-cpu\"]\ntimeout = nan", "'timeout' must be a positive"),
        ("kernels = [\"gemm:tiny\"]\nbackends = [\"torch-cpu\"]\ntimeout = true", "'timeout' must be a positive"),
        ("kernels = [\"gemm:tiny\"]\nbackends = [\"torch-cpu\"]\nsteps = -1", "'steps' must be a positive integer"),
        ("kernels = [\"gemm:tiny\"]\nbackends = [\"torch-cpu\"]\n[settings]\nm = {a = 1}", "setting 'm' must be"),
        ("kernels = [\"gemm:tiny\"]\nbackends = [\"torch-cpu\"]\n[settings]\nm = 0", "must be >= 1"),
        ("kernels = [\"gemm:tiny\", \"gemm:tiny\"]\nbackends = [\"torch-cpu\"]", "given twice"),
        ("colour = \"blue\"", "unknown key 'colour'"),
    ],
)
def test_bad_suite_file_is_one_line_exit_2(tmp_path, capsys, text, needle):
    suite = tmp_path / "mine.toml"
    suite.write_text(text)
    code = cli.main(["run", "--suite", str(suite), "--out", str(tmp_path / "out")])
    assert_one_line_error(code, capsys.readouterr().err, needle)
    assert not (tmp_path / "out").exists()


def test_a_folder_named_like_a_suite_is_refused_cleanly(tmp_path):
    (tmp_path / "dir.toml").mkdir()
    with pytest.raises(PlanError, match="cannot read"):
        build_plan(str(tmp_path / "dir.toml"), [], [], [])


def test_resume_input_errors(tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / PLAN_FILE).write_text('{"schema": "accelbench.plan/1", "cases": [{"kernel": "gemm", "preset": "ti')
    listed = tmp_path / "listed"
    listed.mkdir()
    (listed / PLAN_FILE).write_text(json.dumps({"schema": "accelbench.plan/1", "cases": [
        {"kernel": "gemm", "preset": "tiny", "backend": "torch-cpu", "kernel_settings": {"m": 0}}]}))
    cases = [
        (["--resume", str(tmp_path / "nowhere")], "no such results folder"),
        (["--resume", str(empty)], f"no {PLAN_FILE} in it"),
        (["--resume", str(bad)], "not valid JSON, perhaps truncated"),
        (["--resume", str(listed)], "case 1: setting 'm' of kernel 'gemm' must be >= 1"),
        (["--resume", str(empty), "--out", str(bad)], "name different folders"),
    ]
    for args, needle in cases:
        before = snapshot(tmp_path)
        code = cli.main(["run", *args])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and needle in err[0], (args, err)
        assert snapshot(tmp_path) == before


@pytest.mark.parametrize("where, needle", [
    ("/proc/accelbench-nowhere/results", "--out /proc/accelbench-nowhere/results: cannot be created in /proc"),
    ("FILE/results", "is a file, not a folder"),
    ("FILE", "exists and is not a folder"),
])
def test_out_that_cannot_be_created_is_one_line_exit_2(tmp_path, capsys, where, needle):
    (tmp_path / "FILE").write_text("a file in the way")
    before = snapshot(tmp_path)
    out = where.replace("FILE", str(tmp_path / "FILE"))
    code = cli.main(["run", "--kernel", "gemm:tiny", *CPU, "--out", out])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0] and "Traceback" not in err[0], err
    assert snapshot(tmp_path) == before


def write_plan_cases(folder: Path, *cases: dict) -> Path:
    folder.mkdir()
    (folder / PLAN_FILE).write_text(json.dumps({"schema": "accelbench.plan/1", "cases": list(cases)}))
    return folder


GEMM_CASE = {"kernel": "gemm", "preset": "tiny", "backend": "torch-cpu"}


@pytest.mark.parametrize("later, needle", [
    ({"instance": "p9.nonexistent"}, "unknown instance 'p9.nonexistent'"),
    ({"prices_file": "/nowhere/prices.toml"}, "/nowhere/prices.toml"),
    ({"check_fit": "no"}, "case 2: field 'check_fit' must be true or false"),
    ({"check_fit": "false"}, "case 2: field 'check_fit' must be true or false"),
    ({"steps": "3"}, "case 2: field 'steps' must be an integer >= 1"),
    ({"usd_per_hour": -4.0}, "case 2: field 'usd_per_hour' must be a positive number"),
    ({"backend_settings": {"threads": 0}}, "case 2: setting 'threads' of backend 'torch-cpu' must be"),
    ({"kernel": "gpt2", "kernel_settings": {"n_head": 5}}, "case 2: kernel 'gpt2': n_head (5) must divide"),
])
def test_resume_checks_every_case_before_running_any(tmp_path, capsys, later, needle):
    """A hand-edited plan: the second case is bad, so not even the first may run."""
    folder = write_plan_cases(tmp_path / "results", dict(GEMM_CASE), {**GEMM_CASE, "preset": "1k", **later}
                              if "kernel" not in later else {**GEMM_CASE, "preset": "tiny", **later})
    before = snapshot(folder)
    code = cli.main(["run", "--resume", str(folder)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and needle in err[0], err
    assert snapshot(folder) == before


def test_plan_file_round_trip(tmp_path):
    cases = build_plan(None, ["llama:tiny", "gpt2:tiny"], ["torch-cpu", "jax-cpu"], ["batch=3"], timeout=42)
    planfile.write_plan(tmp_path, cases)
    assert planfile.load_plan(tmp_path) == cases
    assert record_files(tmp_path) == [], "the plan file is not a result record"


# ------------------------------------------------------------ memory fit
def test_case_that_cannot_fit_is_skipped_before_it_starts(tmp_path, capsys):
    huge = ["--set", "m=200000", "--set", "n=200000", "--set", "k=200000"]
    code = cli.main(["run", "--kernel", "gemm:tiny", *CPU, *huge, *QUICK, "--out", str(tmp_path)])
    assert code == 3, "a skipped case is not a failure (1), but the named backend ran nothing (3)"
    (record,) = records_by_kernel(tmp_path).values()
    assert record["status"] == "skipped" and record["error"]["type"] == "WontFit"
    assert "GiB (the kernel's memory estimate)" in record["error"]["message"]
    assert "skipped (WontFit" in capsys.readouterr().err


def test_fit_numbers_come_from_the_os(tmp_path):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       1000 kB\nMemAvailable:     512 kB\n")
    assert fit.meminfo_available_bytes(str(meminfo)) == 512 * 1024
    v1 = tmp_path / "cg" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("1000\n")
    (v1 / "memory.usage_in_bytes").write_text("400\n")
    assert fit.cgroup_headroom_bytes(tmp_path / "cg") == 600
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    assert fit.cgroup_headroom_bytes(tmp_path / "cg") is None
    assert fit.host_available_bytes() > 0
    assert fit.wont_fit_reason(2 * fit.GIB, fit.GIB, "this host").startswith("needs about 2.0 GiB")
    assert fit.wont_fit_reason(None, fit.GIB, "x") is None and fit.wont_fit_reason(1.0, None, "x") is None


def test_accelerator_case_that_cannot_fit_is_skipped_in_the_worker(monkeypatch):
    """For accelerators the device's memory is known once the case's process
    asks the backend (``device_info``); a stand-in backend with 1 MiB shows the
    worker's check without a GPU."""
    from accelbench import backends
    from accelbench.backends.base import Backend, DeviceInfo
    from accelbench.harness import measure

    class TinyAccelerator(Backend):
        name, framework, fence_description = "tiny-accel", "torch", "none"

        def device_info(self):
            return DeviceInfo(kind="an accelerator with 1 MiB", catalog_key=None, memory_bytes=2**20)

    monkeypatch.setattr(backends, "get_class", lambda name: TinyAccelerator)
    case = Case(kernel="gemm", preset="1k", backend="tiny-accel")
    record = measure.run_case(case, "r1")
    assert record.status == "skipped" and record.error["type"] == "WontFit", record.error
    assert "an accelerator with 1 MiB has 0.0 GiB available" in record.error["message"]
    tried = measure.run_case(dataclasses.replace(case, check_fit=False), "r1")
    assert tried.status == "failed" and tried.error["phase"] == "compile and first step"


@pytest.mark.skipif(Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "1",
                    reason="with overcommit_memory=1 a huge allocation succeeds and the OOM killer strikes later")
@pytest.mark.slow
def test_memory_error_in_the_case_is_a_failed_out_of_memory_record(tmp_path, capsys):
    huge = ["--set", "m=200000", "--set", "n=200000", "--set", "k=200000"]
    code = cli.main(["run", "--kernel", "gemm:tiny", *CPU, *huge, *QUICK, "--no-fit-check", "--out", str(tmp_path)])
    assert code == 1
    (record,) = records_by_kernel(tmp_path).values()
    assert record["status"] == "failed"
    assert record["error"]["type"] == "OutOfMemory", record["error"]
    assert "MemoryError" in record["error"]["exception"] and record["error"]["phase"] == "compile and first step"
    assert record["kernel"]["flops_per_step"] == 2.0 * 200000**3, "what was known before the failure is kept"


def test_out_of_memory_messages_are_recognised():
    assert fit.is_out_of_memory(MemoryError())
    assert fit.is_out_of_memory(RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB"))
    assert fit.is_out_of_memory(RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate"))
    torch_like_oom = type("OutOfMemoryError", (RuntimeError,), {})  # torch.OutOfMemoryError's name
    assert fit.is_out_of_memory(torch_like_oom("Tried to allocate 2.00 GiB"))
    assert not fit.is_out_of_memory(ValueError("shapes do not match"))


# ------------------------------------------------------------- NaN loss
@pytest.mark.slow
def test_diverging_loss_is_recorded_failed_with_what_was_measured(tmp_path, capsys):
    """A learning rate of 1e30 is a valid setting; AdamW then moves every
    weight by about 1e30 per step, the logits overflow float32 and the loss
    becomes NaN: the real model, backend and worker, no test hook."""
    code = cli.main(["run", "--kernel", "gpt2:tiny", *CPU, "--set", "lr=1e30", *QUICK, "--out", str(tmp_path)])
    assert code == 1, "one failed case"
    (record,) = records_by_kernel(tmp_path).values()
    assert record["status"] == "failed" and record["error"]["type"] == "NonFiniteLoss", record["error"]
    num = record["numerics"]
    assert isinstance(num["loss_first"], float) and num["loss_last"] in ("nan", "inf", "-inf")
    assert len(record["timing"]["samples_s"]) == 1 and record["metrics"]["tokens_per_s"] > 0  # one window of 2 steps
    assert "failed (NonFiniteLoss" in capsys.readouterr().err


def test_worker_snapshot_is_kept_when_the_process_dies(tmp_path):
    snap = tmp_path / "record.json.partial"
    case = Case(kernel="gemm", preset="tiny", backend="torch-cpu")
    record = runner.new_record(case, "r1")
    record.timing.compile_s = 1.5
    record.error = {"type": "Incomplete", "message": "x", "phase": "timed steps, repeat 2 of 3"}
    runner.write_record(snap, record)
    data = runner._failed_record(case, "r1", snap, {"type": "Timeout", "message": "no result within 3 s"})
    assert data["status"] == "failed" and data["timing"]["compile_s"] == 1.5
    assert data["error"]["type"] == "Timeout" and data["error"]["phase"] == "timed steps, repeat 2 of 3"
    missing = runner._failed_record(case, "r1", tmp_path / "none", {"type": "Crash", "message": "m"})
    assert missing["error"] == {"type": "Crash", "message": "m"} and missing["status"] == "failed"


# ------------------------------------------------- timeouts, kills, resume
TIMEOUT_S = 20
"""The issue's sweep asks for 3 s. The GEMM case's process needs about 2 s
just to start Python and import torch on an idle 2-core machine, and was seen
taking over 5 s on a busy one; 20 s keeps it clear of the limit, and the GPT
case, with 300 timed steps of a 124M-parameter model, needs minutes on any CPU."""


@pytest.mark.slow
def test_timeout_fails_one_case_and_the_sweep_goes_on(tmp_path, cli):
    """gpt2:124m and gemm:tiny on torch-cpu with a short --timeout. batch=1
    (the suite's kernel_settings for gpt2 alone: a --set key must apply to
    every case) keeps the 124M model inside this host's memory (at batch 8 the
    memory check may skip it instead of letting it time out)."""
    suite = tmp_path / "timeout.toml"
    suite.write_text('description = "timeout"\nkernels = ["gpt2:124m", "gemm:tiny"]\nbackends = ["torch-cpu"]\n'
                     '[kernel_settings.gpt2]\nbatch = 1\n')
    out = tmp_path / "out"
    proc = cli("run", "--suite", suite, "--steps", "100", "--repeats", "3", "--timeout", TIMEOUT_S, "--out", out)
    assert proc.returncode == 1, proc.stderr
    records = records_by_kernel(out)
    assert set(records) == {"gpt2:124m@torch-cpu", "gemm:tiny@torch-cpu"}
    gpt = records["gpt2:124m@torch-cpu"]
    assert gpt["status"] == "failed" and gpt["error"]["type"] == "Timeout", gpt["error"]
    assert gpt["error"]["phase"] and gpt["kernel"]["flops_per_step"] > 1e11, "kept what was known"
    assert gpt["backend"]["framework"] == "torch" and gpt["env"]["python"], "kept the worker's snapshot"
    assert records["gemm:tiny@torch-cpu"]["status"] == "ok"
    assert "1 ok, 1 failed" in proc.stderr


@pytest.mark.slow
def test_sigkill_half_way_then_resume_runs_only_the_unfinished_cases(tmp_path):
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    args = ["run", "--suite", "smoke", *QUICK, "--out", out]
    proc = start_cli(*args, tmpdir=tmp)
    try:
        wait_for(lambda: len(record_files(out)) >= 1 if out.exists() else False, 120, "a first record")
        wait_for(lambda: case_processes(tmp), 60, "the next case's process")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    wait_for(lambda: not case_processes(tmp), 10, "the orphaned case process to die with the runner")
    finished = {p.name: load_record(p) for p in record_files(out)}  # every record readable
    assert 1 <= len(finished) < 4
    assert (out / PLAN_FILE).exists()
    assert list(tmp.glob("accelbench-case-*")), "SIGKILL leaves the running case's folder behind"

    resumed = subprocess.run([sys.executable, "-m", "accelbench.harness.cli", "run", "--resume", str(out)],
                             capture_output=True, text=True, timeout=300, env={**os.environ, "TMPDIR": str(tmp)})
    assert not list(tmp.glob("accelbench-case-*")), "the next run cleans it up"
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.count("(kept from an earlier run)") == len(finished)
    final = {p.name: load_record(p) for p in record_files(out)}
    assert len(final) == 4 and all(r["status"] == "ok" for r in final.values())
    for name, record in finished.items():
        assert final[name] == record, f"{name} was run again"
    new_runs = {r["run_id"] for n, r in final.items() if n not in finished}
    assert len(new_runs) == 1 and new_runs.isdisjoint({r["run_id"] for r in finished.values()})
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "no temporary files left"


@pytest.mark.slow
def test_sigterm_stops_the_running_case_and_keeps_finished_records(tmp_path):
    out, tmp = tmp_path / "out", tmp_path / "tmp"
    tmp.mkdir()
    proc = start_cli("run", "--kernel", "gpt2:tiny", "--kernel", "gpt2:124m", *CPU, "--set", "batch=1",
                     *QUICK, "--out", out, tmpdir=tmp)
    try:
        wait_for(lambda: len(record_files(out)) == 1 if out.exists() else False, 120, "the tiny GPT-2 record")
        wait_for(lambda: case_processes(tmp), 60, "the GPT case's process")
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "accelbench: interrupted by SIGTERM" in err and "--resume" in err
    wait_for(lambda: not case_processes(tmp), 10, "the case's processes to be killed")
    records = records_by_kernel(out)
    assert list(records) == ["gpt2:tiny@torch-cpu"] and records["gpt2:tiny@torch-cpu"]["status"] == "ok"
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "nothing half-written"
    assert len(planfile.load_plan(out)) == 2

