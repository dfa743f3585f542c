"""A lost instance loses at most the case it was running: ci/cloud/run_suites.sh
copies each record to the bucket when its case finishes, and a new instance
pulls the bucket and resumes. The bucket here is a local folder; the first
"instance" is SIGKILLed mid-suite (as a preemption kills it), the second has
an empty local disk."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import venv_prefix

ROOT = Path(__file__).resolve().parents[2]
RUN_SUITES = ROOT / "ci" / "cloud" / "run_suites.sh"
CASES = ["gemm-tiny--torch-cpu.json", "gpt2-tiny--torch-cpu.json", "llama-tiny--torch-cpu.json"]


def _env(tmp_path: Path, instance: str) -> dict:
    return {**os.environ, "RESULTS_DIR": str(tmp_path / instance), "BUCKET_DIR": str(tmp_path / "bucket"),
            "RUN_NAME": "run", "SUITES": "smoke", "USD_PER_HOUR": "98.32",
            "ACCELBENCH_ARGS": "--kernel gemm:tiny --kernel gpt2:tiny --kernel llama:tiny "
                               "--steps 2 --repeats 2 --warmup 0"}


@pytest.mark.slow
def test_a_run_killed_mid_suite_resumes_from_the_bucket_and_reruns_no_finished_case(tmp_path):
    prefix = venv_prefix()
    bucket = tmp_path / "bucket" / "run" / "smoke" / "torch-cpu"
    first = subprocess.Popen([str(RUN_SUITES), str(prefix), "torch-cpu"], cwd=ROOT, env=_env(tmp_path, "lost"),
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 240
    while not (bucket / CASES[0]).exists():
        assert first.poll() is None, first.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "no record reached the bucket"
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)  # the instance is gone: its local disk with it
    first.wait()
    kept = {name: (bucket / name).read_bytes() for name in CASES if (bucket / name).exists()}
    assert CASES[0] in kept and len(kept) < len(CASES), sorted(kept)
    assert (bucket / "plan.json").exists()

    second = subprocess.run([str(RUN_SUITES), str(prefix), "torch-cpu"], cwd=ROOT, env=_env(tmp_path, "new"),
                            capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    events = [json.loads(line) for line in second.stderr.splitlines() if line.startswith("{")]
    started = {e["case_id"] for e in events if e["event"] == "case_start"}
    resumed = {e["case_id"] for e in events if e["event"] == "case_done" and e["resumed"]}
    finished = {name[:-5] for name in kept}
    assert finished == resumed and not (finished & started), (finished, started, resumed)
    for name, data in kept.items():
        assert (bucket / name).read_bytes() == data, f"{name} was rewritten"
    records = {name: json.loads((bucket / name).read_text()) for name in CASES}
    assert all(r["status"] == "ok" for r in records.values()), {n: r["status"] for n, r in records.items()}
    assert len({r["run_id"] for r in records.values()}) == 2  # the finished case kept the first instance's run
