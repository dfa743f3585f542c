"""Launching is its own axis: how the processes of a case start, and where
in them the measurement runs. The shape follows optimum-benchmark's
``launchers/base.py`` (a ``Launcher`` with one ``launch`` method, and inline,
process and torchrun implementations).

* ``Launcher``: the runner asks it for the command of the case's process
  (``command``); that process calls its ``launch``, which starts whatever
  else the case needs (torchrun's ranks, a JAX mesh) and leaves one record.
* ``LaunchContext`` (``harness.context``): what the measurement core asks of
  where it runs; each launcher hands the core one. The core knows no launcher.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from typing import ClassVar

from accelbench.harness.plan import Case


class Launcher(ABC):
    """How a case's processes start. ``command`` is what the runner runs;
    ``launch`` runs inside it and leaves exactly one record at ``record_file``
    (ok, failed or skipped), returning the process's exit status."""

    name: ClassVar[str]
    runs_one_process: ClassVar[bool] = False
    """The case runs in the process the runner started, with no ranks or peers
    (so nothing outside it waits on its exit handlers)."""

    @classmethod
    def runs_by_default(cls, case: Case, framework: str) -> bool:
        """Whether this launcher starts ``case`` when its layout names none."""
        return False

    def command(self, case: Case, case_file, record_file, run_id: str) -> list[str]:
        return entry_command(self.name, case_file, record_file, run_id)

    def worker(self, case_file: str, record_file: str, run_id: str) -> int:
        """The body of a process this launcher started itself (``entry_command(..., worker=True)``),
        e.g. one torchrun rank; launchers that start none have no worker."""
        raise NotImplementedError(f"launcher '{self.name}' starts no worker processes")

    @abstractmethod
    def launch(self, case: Case, case_file: str, record_file: str, run_id: str) -> int:
        ...


def entry_command(name: str, case_file, record_file, run_id: str, worker: bool = False) -> list[str]:
    """The one entry point of every launcher's processes (``python -m accelbench.harness.launch``):
    the case process, or with ``--worker`` a process the launcher started (a torchrun rank)."""
    return [sys.executable, "-m", "accelbench.harness.launch", name, str(case_file), str(record_file), run_id,
            *(["--worker"] if worker else [])]
