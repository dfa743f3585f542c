"""The one entry point of every launcher's processes:

    python -m accelbench.harness.launch LAUNCHER CASE.json RECORD.json RUN_ID [--worker]

Without ``--worker``: the case process the runner starts (``Launcher.launch``),
which asks to die with the runner. With it: a process the launcher started
itself (``Launcher.worker``, e.g. one torchrun rank).

A one-process case on a host-memory backend (torch-cpu, jax-cpu) ends with
``os._exit`` once its record is written: the interpreter's teardown with torch
loaded took 0.55 s more than ``os._exit`` on the 2-core machine (0.65-0.83 s
against 0.12 s, three runs each), paid by every case of the smoke suite for
nothing. Accelerator cases and ranks exit normally, so their runtimes'
exit handlers (process groups, ``jax.distributed``, device release) run.
"""

from __future__ import annotations

import sys

from accelbench import backends
from accelbench.harness.launch import LAUNCHERS
from accelbench.harness.launch.process import die_with_runner, exit_without_teardown, load_case


def main(argv: list[str] | None = None, exit_at_once: bool = False) -> int:
    """The process's exit status. ``exit_at_once`` (the module run as a
    program): a one-process host-memory case leaves by ``os._exit``."""
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
    case = load_case(case_file)
    code = launcher.launch(case, case_file, record_file, run_id)
    if exit_at_once and launcher.runs_one_process and backends.get_class(case.backend).memory_is_host:
        exit_without_teardown(code)  # the record is written (write_record renames a complete file into place)
    return code


if __name__ == "__main__":
    sys.exit(main(exit_at_once=True))
