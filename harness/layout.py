"""Where a case runs: how many processes (devices) per node and how many
nodes, and how the nodes meet. A ``Case`` holds one ``Layout``; the
launchers (``accelbench.harness.launch``) read it. Pure data: no framework,
no plan checks (those are ``accelbench.harness.launch.layout_checks``)."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Layout:
    """Data parallelism over ``nproc`` devices per node × ``nnodes`` nodes, how
    the nodes meet (``master_addr``/``master_port`` or ``rdzv_endpoint``, named as
    ``accelbench run``'s flags are) and the launcher that starts the processes."""

    nproc: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = ""
    master_port: int = 0
    rdzv_endpoint: str = ""
    launcher: str = ""
    """A name in ``harness.launch.LAUNCHERS``; empty: the first launcher whose
    ``runs_by_default`` takes the case (one device: inline; torch: torchrun; jax: jaxmesh)."""

    @property
    def devices(self) -> int:
        return self.nproc * self.nnodes

    @property
    def label_suffix(self) -> str:
        if self.devices == 1:
            return ""
        return f" nproc={self.nproc}" + (f" nnodes={self.nnodes}" if self.nnodes > 1 else "")

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if not self.launcher:  # the default: plan files stay as they were before layouts named launchers
            del data["launcher"]
        return data


LAYOUT_FIELDS = tuple(f.name for f in dataclasses.fields(Layout))
LAYOUT_TYPES = typing.get_type_hints(Layout)
"""Each field's declared type (int or str): what a plan file and a layout are checked against."""
