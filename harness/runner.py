"""Run a plan: every case in its own process, with a wall-clock limit, so a
crash, hang or out-of-memory costs one case and never the sweep.

What becomes of a case:

* its backend is not usable here: an ``unavailable`` record, no process;
* it cannot fit in the host's memory (CPU backends; ``harness.fit``): a
  ``skipped`` record with both numbers, no process (accelerators are checked
  the same way in the case's process, once the device is known);
* it runs in its launcher's process (``python -m accelbench.harness.launch``)
  in a session of its own and writes its record; a failure it can see (an exception, MemoryError, a CUDA OOM, a
  NaN loss, a numerics mismatch) is a ``failed`` record from the worker;
* it exceeds its limit, dies of a signal (the OOM killer's SIGKILL included)
  or exits without a record: the runner kills its process group and writes a
  ``failed`` record built on the worker's last snapshot, so what was
  measured before the failure (compile time, numerics, finished repeats) is
  kept, with the phase it stopped in.

Every record is written atomically (temp file + rename): a reader, a
``--resume`` or a power cut never sees half of one. SIGTERM and SIGHUP (an
instance being stopped, a closed terminal) are handled like Ctrl-C: the
running case's processes are killed, no record is written for it, the records
already written stay, and ``Interrupted`` reaches the caller.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from accelbench import backends
from accelbench.harness import fit, history, progress, scaling, sharding
from accelbench.facts.exitcodes import EXIT_FAILED, EXIT_MISSING, EXIT_OK
from accelbench.harness.launch import case_command
from accelbench.harness.plan import Case
from accelbench.harness.planfile import write_plan
from accelbench.harness.records import RecordError, ResultRecord, load_record, write_atomic, write_record
from accelbench.harness.case_env import PARENT_PID_VAR, REFERENCE_CACHE_VAR
from accelbench.harness.launch.process import SNAPSHOT_SUFFIX
from accelbench.harness.measure import new_record

STDERR_TAIL_CHARS = 2000
"""How much of a dead case's stderr its record keeps (the end, where the error is)."""


class Interrupted(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT, SIGTERM or SIGHUP)."""

    def __init__(self, signum: int):
        super().__init__(signal_name(signum))
        self.signum = signum


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


def missing_backends(summary: RunSummary, named: list[str], suite_named: bool) -> list[str]:
    """One line per thing a CI job asked for that did not run: each backend
    named with ``--backend`` none of whose cases ran (all unavailable or
    skipped), and an explicitly named suite none of whose cases ran."""
    ran = {o.case.backend for o in summary.outcomes if o.status in ("ok", "failed")}
    lines = []
    for backend in dict.fromkeys(named):
        if backend in ran:
            continue
        mine = [o for o in summary.outcomes if o.case.backend == backend]
        if not mine:
            continue
        why = "; ".join(dict.fromkeys(f"{o.status}: {(o.record.get('error') or {}).get('message', '')}" for o in mine))
        lines.append(f"backend {backend} did not run ({len(mine)} case{'s' * (len(mine) != 1)} {why})")
    if suite_named and not named and summary.outcomes and not ran:
        lines.append(f"no case of the suite ran: all {len(summary.outcomes)} were skipped or unavailable")
    return lines


def exit_status(summary: RunSummary, missing: list[str], allow_unavailable: bool) -> int:
    if summary.failed:
        return EXIT_FAILED
    if missing and not allow_unavailable:
        return EXIT_MISSING
    return EXIT_OK


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
    on_event: Callable[[dict], None] | None = None,
    run_id: str | None = None,
) -> RunSummary:
    """Run every case into ``out_dir`` (its plan stored first in ``plan.json``).
    With ``resume``, a case that already has an ``ok`` record is not run again.
    ``on_event`` receives the running case's phase events (``harness.progress``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    remove_orphan_case_dirs()
    summary = RunSummary(out_dir=out, run_id=run_id or history.new_run_id())
    with signals_raise_interrupted(), owned_temp_dir() as references:
        write_plan(out, cases)
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
            outcome = run_one(case, path, summary.run_id, on_event=on_event, references=references)
            summary.outcomes.append(outcome)
            if on_case:
                on_case(i, len(cases), outcome, "done")
    return summary


@contextlib.contextmanager
def signals_raise_interrupted(signums=(signal.SIGTERM, signal.SIGHUP)) -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise ``Interrupted`` as Ctrl-C raises
    KeyboardInterrupt, so the same clean-up runs for all three. Only the main
    thread can set handlers; elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def run_one(case: Case, path: Path, run_id: str, on_event: Callable[[dict], None] | None = None,
            references: Path | None = None) -> CaseOutcome:
    """One case in a process of its own. ``references``: the run's folder of
    float64 references its cases share (``harness.reference_cache``)."""
    start = time.perf_counter()
    availability = backends.availability(case.backend)
    if not availability.ok:
        record = new_record(case, run_id, status="unavailable")
        record.error = {"type": "BackendUnavailable", "message": availability.reason}
        write_record(path, record)
        return CaseOutcome(case, path, "unavailable", record.to_dict(), time.perf_counter() - start)
    if case.check_fit and (reason := host_fit_problem(case)) is not None:
        record = new_record(case, run_id, status="skipped")
        record.error = {"type": "WontFit", "message": reason}
        write_record(path, record)
        return CaseOutcome(case, path, "skipped", record.to_dict(), time.perf_counter() - start)

    with owned_temp_dir() as tmp:
        case_file = tmp / "case.json"
        case_file.write_text(json.dumps(case.to_dict()))
        fresh = tmp / "record.json"
        failure = _run_process(case, case_file, fresh, run_id, on_event, references)
        if failure is None:
            try:
                data = load_record(fresh)
            except RecordError as exc:
                failure = {"type": "WorkerError", "message": f"the case process wrote no usable record: {exc}"}
        if failure is not None:
            data = _failed_record(case, run_id, Path(str(fresh) + SNAPSHOT_SUFFIX), failure)
        data["wall_s"] = time.perf_counter() - start
        scaling.annotate_scaling(data, path.parent)
        write_atomic(path, data)
    return CaseOutcome(case, path, data["status"], data, time.perf_counter() - start)


CASE_DIR_PREFIX, OWNER_FILE = "accelbench-case-", "runner.pid"


@contextlib.contextmanager
def owned_temp_dir() -> Iterator[Path]:
    """A temporary folder (a case's files, the run's references), removed on the
    way out; its owner file lets a later run remove it after a SIGKILL."""
    with tempfile.TemporaryDirectory(prefix=CASE_DIR_PREFIX) as tmp:
        (Path(tmp) / OWNER_FILE).write_text(str(os.getpid()))
        yield Path(tmp)


def remove_orphan_case_dirs(tmp_root: str | None = None) -> list[Path]:
    """Remove the case folders a runner killed with SIGKILL left in the temp
    dir (no ``finally`` ran): those whose runner process is gone. A folder
    without an owner file, or whose owner lives, is left alone."""
    removed = []
    for folder in Path(tmp_root or tempfile.gettempdir()).glob(CASE_DIR_PREFIX + "*"):
        try:
            owner = int((folder / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue
        if owner == os.getpid() or _alive(owner):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process (or an odd number): not ours to judge
    return True


def host_fit_problem(case: Case) -> str | None:
    """Why a case of a host-memory backend cannot fit in this host's memory
    now, or None (also when the backend's device is not host memory, or the
    kernel gives no estimate). Imports no framework."""
    backend_cls = backends.get_class(case.backend)
    if not getattr(backend_cls, "memory_is_host", False):
        return None
    # every local rank's share (replicas, or FSDP shards) is this host's memory: harness.sharding
    return fit.wont_fit_reason(sharding.host_memory_bytes(case), fit.host_available_bytes(), "this host")


def _failed_record(case: Case, run_id: str, snapshot: Path, failure: dict) -> dict:
    """The failure, on top of what the worker had measured when it stopped."""
    try:
        data = load_record(snapshot)
    except RecordError:
        return {**new_record(case, run_id).to_dict(), "error": failure}
    phase = (data.get("error") or {}).get("phase")
    failure = dict(failure)
    if phase:
        failure["phase"] = phase
        failure["message"] += f" (during {phase})"
    data["status"], data["error"] = "failed", failure
    return data


def _run_process(case: Case, case_file: Path, record_file: Path, run_id: str,
                 on_event: Callable[[dict], None] | None = None, references: Path | None = None) -> dict | None:
    """Run the worker; None when it exited cleanly, else the failure to record."""
    cmd = case_command(case, case_file, record_file, run_id)  # the case's launcher: one process, torchrun or a JAX mesh
    env = {**os.environ, PARENT_PID_VAR: str(os.getpid())}
    if references is not None:
        env[REFERENCE_CACHE_VAR] = str(references)
    events = Path(str(record_file) + progress.EVENTS_SUFFIX) if on_event else None
    if events is not None:
        env[progress.ENV_VAR] = str(events)
    oom_kills_before = fit.oom_kill_count()
    with tempfile.TemporaryFile() as err:
        # A new session, so a timeout can kill the case's whole process tree,
        # and Ctrl-C in the terminal reaches the runner only, which cleans up.
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True, env=env)
        try:
            code = progress.wait_relaying(proc, case.timeout_s, events, on_event)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            return {"type": "Timeout", "message": f"no result within the {case.timeout_s:g} s limit; "
                    "the case's processes were killed (raise it with --timeout)"}
        except BaseException:
            _kill_tree(proc)
            raise
        err.seek(0)
        tail = err.read().decode(errors="replace")[-STDERR_TAIL_CHARS:].strip()
    if code == 0:
        return None
    if code < 0:
        return _signal_failure(-code, tail, oom_kills_before)
    last = tail.splitlines()[-1] if tail else ""
    kind = "OutOfMemory" if any(m in tail.lower() for m in ("memoryerror", *fit.OOM_MESSAGES)) else "Crash"
    return {"type": kind, "message": f"the case process exited with status {code}: {last}", "stderr_tail": tail}


def _signal_failure(signum: int, tail: str, oom_kills_before: int | None) -> dict:
    name = signal_name(signum)
    oom_kills_after = fit.oom_kill_count()
    if signum == signal.SIGKILL and None not in (oom_kills_before, oom_kills_after) and oom_kills_after > oom_kills_before:
        return {"type": "OutOfMemory", "message": "the case process was killed by the kernel's OOM killer "
                "(SIGKILL; oom_kill in /proc/vmstat rose while it ran)", "stderr_tail": tail}
    hint = " (SIGKILL also comes from the OOM killer when memory runs out)" if signum == signal.SIGKILL else ""
    return {"type": "Crash", "message": f"the case process died of {name}{hint}", "stderr_tail": tail}


def _kill_tree(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


__all__ = [
    "CaseOutcome", "Interrupted", "exit_status", "missing_backends", "RunSummary", "ResultRecord", "host_fit_problem", "record_path",
    "run_one", "run_plan", "signal_name", "signals_raise_interrupted",
]
