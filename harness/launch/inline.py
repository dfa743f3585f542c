"""The one-process launcher: the case runs in the process the runner
starts (``python -m accelbench.harness.launch inline ...``), on one device."""

from __future__ import annotations

from accelbench.harness.context import LaunchContext
from accelbench.harness.launch.base import Launcher
from accelbench.harness.launch.process import SNAPSHOT_SUFFIX
from accelbench.harness.plan import Case
from accelbench.harness.records import write_record


class InlineLauncher(Launcher):
    name = "inline"
    runs_one_process = True

    @classmethod
    def runs_by_default(cls, case: Case, framework: str) -> bool:
        return case.layout.devices == 1

    def launch(self, case: Case, case_file: str, record_file: str, run_id: str) -> int:
        from accelbench.harness.measure import run_case

        record = run_case(case, run_id, context=LaunchContext(), snapshot_path=record_file + SNAPSHOT_SUFFIX)
        write_record(record_file, record)
        return 0
