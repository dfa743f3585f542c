"""The command line's layout options (``--nproc``, ``--nnodes`` ...) and every
check a plan's cases pass before they run on a layout (rendezvous included):
one-line ``PlanError``s, nothing started."""

from __future__ import annotations

import dataclasses

from accelbench import backends
from accelbench import kernels
from accelbench.harness import sharding
from accelbench.harness.layout import DEFAULT_MASTER_PORT, LAYOUT_FIELDS, LAYOUT_TYPES, Layout, add_layout_arguments  # noqa: F401 (re-exported)
from accelbench.harness.plan import Case, PlanError


def with_layout(cases: list[Case], layout: Layout) -> list[Case]:
    """The cases set to run on ``layout``; PlanError when one cannot."""
    _check_fields(layout)
    for case in cases:
        if (problem := sharding.check_case(case, layout.devices)) is not None:
            raise PlanError(problem)
    if layout.devices == 1:
        return cases
    training = [n for n in kernels.names() if kernels.get(n).is_training_step]
    for case in cases:
        kernel = kernels.get(case.kernel)
        if not kernel.is_training_step:
            raise PlanError(f"--nproc/--nnodes run training steps data-parallel; kernel '{case.kernel}' is not one; "
                            f"accepted: {', '.join(training)}")
        framework = backends.get_class(case.backend).framework
        if framework not in ("torch", "jax"):
            raise PlanError(f"backend '{case.backend}' ({framework}) has no data-parallel launcher; accepted: torch and jax backends")
        batch = getattr(kernel.config(case.preset, case.kernel_settings), "batch", None)
        if not isinstance(batch, int):
            raise PlanError(f"kernel '{case.kernel}' has no 'batch' setting to split over devices")
        if batch % layout.devices:
            raise PlanError(f"the global batch {batch} of {case.kernel}:{case.preset} does not split evenly over "
                            f"{layout.devices} devices; set --set batch=<a multiple of {layout.devices}>")
    port = layout.master_port or (DEFAULT_MASTER_PORT if layout.master_addr else 0)
    return [dataclasses.replace(c, layout=dataclasses.replace(layout, master_port=port)) for c in cases]


def _check_fields(layout: Layout) -> None:
    for name in LAYOUT_FIELDS:
        value, kind = getattr(layout, name), LAYOUT_TYPES[name]  # int or str
        if not isinstance(value, kind) or isinstance(value, bool):
            raise PlanError(f"{name} must be {'an integer' if kind is int else 'a string'}, got {value!r}")
    for name, value, lowest in (("--nproc", layout.nproc, 1), ("--nnodes", layout.nnodes, 1),
                                ("--node-rank", layout.node_rank, 0), ("--master-port", layout.master_port, 0)):
        if value < lowest:
            raise PlanError(f"{name} must be >= {lowest}, got {value}")
    if layout.node_rank >= layout.nnodes:
        raise PlanError(f"--node-rank {layout.node_rank} must be below --nnodes {layout.nnodes}")
    if layout.master_port > 65535:
        raise PlanError(f"--master-port must be a TCP port (1-65535), got {layout.master_port}")
    if layout.rdzv_endpoint and (layout.master_addr or layout.master_port):
        given = "--master-addr" if layout.master_addr else "--master-port"
        raise PlanError(f"--rdzv-endpoint and {given} both say where node 0 is; give --rdzv-endpoint HOST:PORT "
                        "or --master-addr HOST [--master-port P]")
    if layout.launcher and layout.launcher not in _launcher_names():
        raise PlanError(f"unknown launcher '{layout.launcher}'; accepted: {', '.join(_launcher_names())}")
    if layout.nnodes > 1 and not (layout.master_addr or layout.rdzv_endpoint):
        raise PlanError(f"--nnodes {layout.nnodes} needs --master-addr HOST [--master-port PORT] or --rdzv-endpoint HOST:PORT")


def layout_from_args(cases: list[Case], args) -> list[Case]:
    """Apply the command line's layout to every case, or, when none was given
    (e.g. ``--resume`` of a stored plan), check each case's own."""
    given = {k: getattr(args, k) for k in LAYOUT_FIELDS if getattr(args, k, None) is not None}
    # what the command line leaves out stays the case's own (a suite's nproc under --nnodes/--node-rank)
    return [with_layout([c], dataclasses.replace(c.layout, **given))[0] for c in cases]


def _launcher_names() -> list[str]:
    from accelbench.harness.launch import LAUNCHERS  # the package imports this module's neighbours

    return list(LAUNCHERS)
