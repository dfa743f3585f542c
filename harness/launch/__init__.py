"""Launchers: how a case's processes start (one process, torchrun ranks, a
JAX mesh), kept apart from what is measured (``harness.measure``). See
``base`` for the interface. Importing this package imports no framework."""

from __future__ import annotations

from accelbench import backends
from accelbench.harness.launch.base import Launcher
from accelbench.harness.launch.inline import InlineLauncher
from accelbench.harness.launch.jaxmesh import JaxMeshLauncher
from accelbench.harness.launch.torchrun import TorchrunLauncher
from accelbench.harness.plan import Case

LAUNCHERS: dict[str, type[Launcher]] = {cls.name: cls for cls in (InlineLauncher, TorchrunLauncher, JaxMeshLauncher)}


def launcher_for(case: Case) -> Launcher:
    """One device: in one process; several: the framework's own launcher."""
    if case.layout.devices == 1:
        return InlineLauncher()
    if backends.get_class(case.backend).framework == "jax":
        return JaxMeshLauncher()
    return TorchrunLauncher()


def case_command(case: Case, case_file, record_file, run_id: str) -> list[str]:
    """The command of a case's process, as the runner starts it."""
    return launcher_for(case).command(case, case_file, record_file, run_id)


__all__ = ["LAUNCHERS", "Launcher", "case_command", "launcher_for"]
