"""What a data-parallel case leaves behind when a rank fails, read back into
one error: rank error files, torchrun's log tail, and the records the
launcher writes in place of rank 0's (failed, or "another node writes it")."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

from accelbench.harness.launch.process import SNAPSHOT_SUFFIX
from accelbench.harness.plan import Case
from accelbench.harness.records import load_record, write_atomic, write_record

RANK_ERROR_GLOB = "rank-*.error.json"
TORCHRUN_LOG = "torchrun.log"
LOG_TAIL_CHARS = 3000


def write_rank_error(record_file: str, error: dict, rank: int, world: int, local_rank: int, node_rank: int) -> None:
    """A failed rank's error, beside the record, for ``rank_failure`` to read."""
    error = {**error, "rank": rank, "world_size": world, "local_rank": local_rank, "node_rank": node_rank,
             "time": time.time()}
    write_atomic(Path(record_file).parent / f"rank-{rank}.error.json", error)


def write_not_writer(case: Case, record_file: str, run_id: str) -> None:
    from accelbench.harness.measure import new_record

    record = new_record(case, run_id, status="skipped")
    record.error = {"type": "NotRecordWriter",
                    "message": f"node {case.layout.node_rank} of {case.layout.nnodes} ran its share; "
                               "node 0 writes this case's record"}
    write_record(record_file, record)


def write_failure(case: Case, record_file: str, run_id: str, code: int, tail: str) -> None:
    """A failed record naming the rank that failed first; rank 0's own record
    (or its last snapshot) is kept for what it measured."""
    from accelbench.harness.measure import new_record

    data = None
    for path in (record_file, record_file + SNAPSHOT_SUFFIX):
        try:
            data = load_record(path)
            break
        except Exception:
            continue
    data = data or new_record(case, run_id).to_dict()
    data["status"] = "failed"
    data["backend"]["device_count"] = case.layout.devices
    data["error"] = rank_failure(Path(record_file).parent, case.layout.devices, code, tail)
    write_atomic(record_file, data)


TORCHRUN_FAILURE = re.compile(r"rank\s*:\s*(\d+)[^\n]*\n\s*exitcode\s*:\s*(-?\d+)")
"""One failed rank in torchrun's ChildFailedError summary ("rank : 1 (local_rank: 1)" / "exitcode : -9 ...")."""
STOPPED_BY_TORCHRUN = {-signal.SIGTERM, -signal.SIGINT}


def rank_failure(workdir: Path, world: int, code: int, tail: str) -> dict:
    """The error of a failed data-parallel case, naming the rank that failed
    first: a rank that died of a signal without a word (a crash, the OOM
    killer) if any, since its peers then fail on a broken connection; else the
    rank whose error file is the earliest."""
    errors = []
    for path in sorted(workdir.glob(RANK_ERROR_GLOB)):
        try:
            errors.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    errors.sort(key=lambda e: e.get("time", 0))
    reported = {e.get("rank") for e in errors}
    silent = [(int(r), int(c)) for r, c in TORCHRUN_FAILURE.findall(tail)
              if int(r) not in reported and int(c) not in STOPPED_BY_TORCHRUN]
    later = [f"rank {e['rank']} ({e['type']})" for e in errors]
    if silent:
        rank, status = silent[0]
        message = f"rank {rank} of {world} {_exit_words(status)} without reporting an error"
    elif errors:
        rank = errors[0]["rank"]
        message = f"rank {rank} of {world} failed: {errors[0]['type']}: {errors[0]['message']}"
        later = later[1:]
    else:
        last = tail.strip().splitlines()[-1] if tail.strip() else ""
        return {"type": "LaunchFailure", "message": f"torchrun exited with status {code}: {last}", "torchrun_tail": tail}
    if later:
        message += "; then " + ", ".join(later)
    return {"type": "RankFailure", "message": message, "rank": rank, "rank_errors": errors, "torchrun_tail": tail}


def _exit_words(status: int) -> str:
    if status < 0 and -status in signal.valid_signals():
        return f"died of {signal.Signals(-status).name}"
    return f"exited with status {status}"


