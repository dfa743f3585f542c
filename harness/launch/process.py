"""What every case process shares: its command-line files, the snapshot
beside the record, and dying with its parent."""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import NoReturn

from accelbench.harness.case_env import PARENT_PID_VAR
from accelbench.harness.plan import Case

SNAPSHOT_SUFFIX = ".partial"
"""The record so far, written beside the record at each phase (the runner keeps it when the case process dies)."""


def load_case(path: str) -> Case:
    with open(path) as f:
        return Case.from_dict(json.load(f))


def die_with_parent(parent_pid: int | None) -> None:
    """Linux: ask for SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG), so
    a runner killed with SIGKILL leaves no case running on behind it; case
    processes run in sessions of their own, so nothing else would stop them."""
    if parent_pid is None or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(137)


def exit_without_teardown(code: int) -> NoReturn:
    """End a rank once its record and error files are written, skipping the
    interpreter's teardown: a process group that DDP/FSDP still references is
    otherwise destroyed during finalization, where gloo's worker threads can
    abort the process ("terminate called without an active exception",
    SIGABRT; pytorch/pytorch#179291), turning a finished rank into a failed one."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def die_with_runner(environ=os.environ) -> None:
    """``die_with_parent`` for the process the runner started (it names itself in PARENT_PID_VAR)."""
    parent = environ.get(PARENT_PID_VAR)
    die_with_parent(int(parent) if parent and parent.isdigit() else None)
