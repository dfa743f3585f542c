"""The case process of ``accelbench run`` on one device:

    python -m accelbench.harness.worker CASE.json RECORD.json [RUN_ID]

A thin entry: it reads the case, asks to die with the runner, and runs the
measurement core (``harness.measure.run_case``) through the one-process
launcher (``harness.launch.inline``), which writes the record and the
snapshots the runner keeps when this process is killed. The names below are
re-exported for the runner and for callers that measure in-process.
"""

from __future__ import annotations

import sys
import uuid

from accelbench.harness.launch.inline import InlineLauncher
from accelbench.harness.launch.process import PARENT_PID_VAR, SNAPSHOT_SUFFIX, die_with_runner, load_case
from accelbench.harness.measure import new_record, run_case


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (2, 3):
        print("usage: python -m accelbench.harness.worker CASE.json RECORD.json [RUN_ID]", file=sys.stderr)
        return 2
    die_with_runner()
    run_id = argv[2] if len(argv) == 3 else uuid.uuid4().hex[:12]
    return InlineLauncher().launch(load_case(argv[0]), argv[0], argv[1], run_id)


__all__ = ["PARENT_PID_VAR", "SNAPSHOT_SUFFIX", "main", "new_record", "run_case"]

if __name__ == "__main__":
    sys.exit(main())
