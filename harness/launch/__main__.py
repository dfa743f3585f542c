"""The one entry point of every launcher's processes:

    python -m accelbench.harness.launch LAUNCHER CASE.json RECORD.json RUN_ID [--worker]

Without ``--worker``: the case process the runner starts (``Launcher.launch``),
which asks to die with the runner. With it: a process the launcher started
itself (``Launcher.worker``, e.g. one torchrun rank).
"""

from __future__ import annotations

import sys

from accelbench.harness.launch import LAUNCHERS
from accelbench.harness.launch.process import die_with_runner, load_case


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    worker = argv[4:] == ["--worker"]
    if len(argv) != 4 + worker or argv[0] not in LAUNCHERS:
        print(f"usage: python -m accelbench.harness.launch {{{'|'.join(LAUNCHERS)}}} CASE.json RECORD.json RUN_ID "
              "[--worker]", file=sys.stderr)
        return 2
    name, case_file, record_file, run_id = argv[:4]
    launcher = LAUNCHERS[name]()
    if worker:
        return launcher.worker(case_file, record_file, run_id)
    die_with_runner()
    return launcher.launch(load_case(case_file), case_file, record_file, run_id)


if __name__ == "__main__":
    sys.exit(main())
