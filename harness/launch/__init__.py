"""Launchers: how a case's processes start (one process, torchrun ranks, a
JAX mesh), kept apart from what is measured (``harness.measure``). See
``base`` for the interface; one file per launcher, one line each in
``LAUNCHERS``. Importing this package imports no framework."""

from __future__ import annotations

from accelbench import backends
from accelbench.harness.launch.base import Launcher
from accelbench.harness.launch.inline import InlineLauncher
from accelbench.harness.launch.jaxmesh import JaxMeshLauncher
from accelbench.harness.launch.torchrun import TorchrunLauncher
from accelbench.harness.plan import Case

LAUNCHERS: dict[str, type[Launcher]] = {cls.name: cls for cls in (
    InlineLauncher,  # first: one device runs in one process whatever the framework
    TorchrunLauncher,
    JaxMeshLauncher,
)}
"""The registry, in the order ``launcher_for`` asks ``runs_by_default`` when a layout names no launcher."""


def launcher_for(case: Case) -> Launcher:
    """The launcher the case's layout names, else the first that runs it by default."""
    if case.layout.launcher:
        return LAUNCHERS[case.layout.launcher]()
    framework = backends.get_class(case.backend).framework
    return next(cls for cls in LAUNCHERS.values() if cls.runs_by_default(case, framework))()


def case_command(case: Case, case_file, record_file, run_id: str) -> list[str]:
    """The command of a case's process, as the runner starts it."""
    return launcher_for(case).command(case, case_file, record_file, run_id)


__all__ = ["LAUNCHERS", "Launcher", "case_command", "launcher_for"]
