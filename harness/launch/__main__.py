"""``python -m accelbench.harness.launch {inline|torchrun|jaxmesh|torchrun-rank} CASE.json RECORD.json RUN_ID``."""

from __future__ import annotations

import sys

from accelbench.harness.launch import LAUNCHERS
from accelbench.harness.launch.process import die_with_runner, exit_without_teardown, load_case
from accelbench.harness.launch.torchrun import run_rank


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    names = [*LAUNCHERS, "torchrun-rank"]
    if len(argv) != 4 or argv[0] not in names:
        print(f"usage: python -m accelbench.harness.launch {{{'|'.join(names)}}} CASE.json RECORD.json RUN_ID",
              file=sys.stderr)
        return 2
    name, case_file, record_file, run_id = argv
    if name == "torchrun-rank":
        import faulthandler

        faulthandler.enable(all_threads=True)  # a rank killed by a signal leaves its Python stack in torchrun's log
        exit_without_teardown(run_rank(case_file, record_file, run_id))
    die_with_runner()
    return LAUNCHERS[name]().launch(load_case(case_file), case_file, record_file, run_id)


if __name__ == "__main__":
    sys.exit(main())
