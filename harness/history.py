"""Run history: ``accelbench run`` without ``--out`` writes into
``results/<run id>/`` and points ``results/latest`` at it, so a new run never
mixes its records with an older one, and ``compare`` with one folder can find
the run before.

The pointer is a relative symlink; where the file system refuses symlinks it
is a one-line text file holding the run id. Run ids start with a UTC time
stamp, so sorting them sorts runs by start time.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

from accelbench.harness.records import RecordError

RESULTS_ROOT = Path("results")
LATEST = "latest"


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + uuid.uuid4().hex[:6]


def _looks_like_run_id(name: str) -> bool:
    return len(name) > 16 and name[:8].isdigit() and name[8] == "T"


def point_latest(root: Path, run_id: str) -> Path:
    """Make ``root/latest`` name ``root/run_id``; returns the pointer's path."""
    pointer = root / LATEST
    tmp = root / f".{LATEST}.{uuid.uuid4().hex[:6]}"
    try:
        os.symlink(run_id, tmp, target_is_directory=True)
    except OSError:  # no symlinks here (some network and Windows file systems): a text file instead
        tmp.write_text(run_id + "\n")
    os.replace(tmp, pointer)  # atomic: a reader sees the old pointer or the new one
    return pointer


def latest(root: Path = RESULTS_ROOT) -> Path | None:
    """The folder ``root/latest`` points at, or None when there is no pointer."""
    pointer = root / LATEST
    if pointer.is_symlink() or pointer.is_dir():
        return root / pointer.resolve().name if pointer.exists() else None
    if pointer.is_file():
        try:
            name = pointer.read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None
        return root / name if name and "/" not in name and (root / name).is_dir() else None
    return None


def runs(root: Path = RESULTS_ROOT) -> list[Path]:
    """The run folders under ``root``, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and _looks_like_run_id(p.name))


def latest_and_previous(root: Path) -> tuple[Path, Path]:
    """For ``compare DIR``: the run ``DIR/latest`` names and the run before it."""
    newest = latest(root)
    if newest is None:
        raise RecordError(f"{root}: no '{LATEST}' pointer in it; give two folders (compare OLD NEW), "
                          f"or one written by `accelbench run` without --out")
    earlier = [p for p in runs(root) if p.name < newest.name]
    if not earlier:
        raise RecordError(f"{root}: the latest run ({newest.name}) has no earlier run beside it to compare with")
    return earlier[-1], newest
