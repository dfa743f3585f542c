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


DEFAULT_MASTER_PORT = 29500
"""torchrun's default ``--master-port``."""


def add_layout_arguments(parser) -> None:
    """``accelbench run``'s data-parallel options (torchrun's names); here, in a module that imports
    nothing heavy, so ``accelbench --help`` builds its parser without the plan and backends."""
    parser.add_argument("--nproc", type=int, metavar="N",
                        help="run training steps data-parallel over N devices per node; the kernel's batch "
                             "stays the global batch (torch: torchrun + DDP; jax: a device mesh) (default: none, one device)")
    parser.add_argument("--nnodes", type=int, metavar="M", help="nodes in a multi-node run (default 1)")
    parser.add_argument("--node-rank", type=int, metavar="K", help="this node's index, 0 to M-1 (default: none, 0)")
    parser.add_argument("--master-addr", metavar="HOST", help="node 0's address (multi-node) (default: none)")
    parser.add_argument("--master-port", type=int, metavar="PORT", help=f"node 0's port (default {DEFAULT_MASTER_PORT})")
    parser.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="torchrun c10d rendezvous instead of master addr/port (default: none)")
