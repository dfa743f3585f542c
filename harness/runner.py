"""Run a plan: every case in its own process, with a wall-clock limit.

A crash, a signal, a hang or an out-of-memory in one case's process becomes a
``failed`` record for that case and the sweep goes on. The worker writes its
own record atomically; when it dies without one, the runner writes the
failure. An unavailable backend gets an ``unavailable`` record without
starting a process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import backends
from harness.plan import Case
from harness.records import RecordError, ResultRecord, load_record, write_atomic, write_record
from harness.worker import new_record

STDERR_TAIL_CHARS = 2000


@dataclass
class CaseOutcome:
    case: Case
    path: Path
    status: str
    record: dict
    wall_s: float


@dataclass
class RunSummary:
    out_dir: Path
    run_id: str
    outcomes: list[CaseOutcome] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(o.status == "failed" for o in self.outcomes)


def record_path(out_dir: Path, case: Case) -> Path:
    return out_dir / f"{case.case_id}.json"


def existing_ok(path: Path) -> dict | None:
    try:
        record = load_record(path)
    except RecordError:
        return None
    return record if record["status"] == "ok" else None


def run_plan(
    cases: list[Case],
    out_dir: str | os.PathLike,
    resume: bool = False,
    on_case: Callable[[int, int, CaseOutcome | Case, str], None] | None = None,
) -> RunSummary:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = RunSummary(out_dir=out, run_id=time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6])
    for i, case in enumerate(cases, 1):
        path = record_path(out, case)
        if resume and (done := existing_ok(path)) is not None:
            outcome = CaseOutcome(case, path, "ok", done, 0.0)
            summary.outcomes.append(outcome)
            if on_case:
                on_case(i, len(cases), outcome, "resumed")
            continue
        if on_case:
            on_case(i, len(cases), case, "start")
        outcome = run_one(case, path, summary.run_id)
        summary.outcomes.append(outcome)
        if on_case:
            on_case(i, len(cases), outcome, "done")
    return summary


def run_one(case: Case, path: Path, run_id: str) -> CaseOutcome:
    start = time.perf_counter()
    availability = backends.availability(case.backend)
    if not availability.ok:
        record = new_record(case, run_id, status="unavailable")
        record.error = {"type": "BackendUnavailable", "message": availability.reason}
        write_record(path, record)
        return CaseOutcome(case, path, "unavailable", record.to_dict(), time.perf_counter() - start)

    with tempfile.TemporaryDirectory(prefix="accelbench-case-") as tmp:
        case_file = Path(tmp) / "case.json"
        case_file.write_text(json.dumps(case.to_dict()))
        fresh = Path(tmp) / "record.json"
        failure = _run_process(case, case_file, fresh, run_id)
        if failure is None:
            try:
                data = load_record(fresh)
            except RecordError as exc:
                failure = {"type": "WorkerError", "message": f"the case process wrote no usable record: {exc}"}
        if failure is not None:
            record = new_record(case, run_id)
            record.error = failure
            data = record.to_dict()
        data["wall_s"] = time.perf_counter() - start
        write_atomic(path, data)
    return CaseOutcome(case, path, data["status"], data, time.perf_counter() - start)


def _run_process(case: Case, case_file: Path, record_file: Path, run_id: str) -> dict | None:
    """Run the worker; None when it exited cleanly, else the failure to record."""
    cmd = [sys.executable, "-m", "harness.worker", str(case_file), str(record_file), run_id]
    with tempfile.TemporaryFile() as err:
        # A new session, so a timeout can kill the case's whole process tree.
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        try:
            code = proc.wait(timeout=case.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            return {"type": "Timeout", "message": f"no result within the {case.timeout_s:g} s limit; the case's processes were killed"}
        except BaseException:
            _kill_tree(proc)
            raise
        err.seek(0)
        tail = err.read().decode(errors="replace")[-STDERR_TAIL_CHARS:].strip()
    if code == 0:
        return None
    if code < 0:
        sig = signal.Signals(-code).name
        hint = " (the kernel's OOM killer sends SIGKILL when memory runs out)" if sig == "SIGKILL" else ""
        return {"type": "Crash", "message": f"the case process died of {sig}{hint}", "stderr_tail": tail}
    last = tail.splitlines()[-1] if tail else ""
    kind = "OutOfMemory" if "MemoryError" in tail or "out of memory" in tail.lower() else "Crash"
    return {"type": kind, "message": f"the case process exited with status {code}: {last}", "stderr_tail": tail}


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


__all__ = ["CaseOutcome", "RunSummary", "ResultRecord", "run_plan", "run_one", "record_path"]
