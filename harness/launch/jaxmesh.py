"""The JAX mesh launcher: one process per host drives every device of its
host through a ``jax.sharding.Mesh`` (``backends.jax_mesh.JaxMesh``);
the case runs in the launcher's own process, after ``XLA_FLAGS`` is set and
before JAX loads."""

from __future__ import annotations

import os
import re

from accelbench import backends
from accelbench.harness import sharding
from accelbench.harness.launch import forensics
from accelbench.harness.context import DataParallelContext
from accelbench.harness.launch.base import Launcher
from accelbench.harness.launch.process import SNAPSHOT_SUFFIX
from accelbench.harness.plan import Case
from accelbench.harness.records import write_record


def host_device_flags(xla_flags: str, devices: int) -> str:
    """``XLA_FLAGS`` with XLA:CPU split into ``devices`` host devices (replacing any count already there)."""
    flags = re.sub(r"--xla_force_host_platform_device_count=\S+", "", xla_flags)
    return f"{flags} --xla_force_host_platform_device_count={devices}".strip()


class JaxMeshLauncher(Launcher):
    name = "jaxmesh"

    @classmethod
    def runs_by_default(cls, case: Case, framework: str) -> bool:
        return framework == "jax"

    def launch(self, case: Case, case_file: str, record_file: str, run_id: str) -> int:
        from accelbench.backends.jax_mesh import JaxMesh
        from accelbench.harness.measure import run_case

        layout = case.layout
        platform = getattr(backends.get_class(case.backend), "platform", "")
        if platform == "cpu":
            os.environ["XLA_FLAGS"] = host_device_flags(os.environ.get("XLA_FLAGS", ""), layout.nproc)
        if platform == "neuron":  # jax-neuronx's multi-process variables, before JAX loads (backends/neuron_pjrt.py)
            from accelbench.backends.neuron_pjrt import multi_process_environment

            os.environ.update(multi_process_environment(layout.nproc, layout.nnodes, layout.node_rank, dict(os.environ)))
        coordinator = layout.rdzv_endpoint or (f"{layout.master_addr}:{layout.master_port}" if layout.master_addr else "")
        engine = JaxMesh(layout.nproc, layout.nnodes, layout.node_rank, coordinator, sharding.shard_strategy(case))
        engine.start(platform)
        # One process meters its host's devices; across hosts the readings are not summed.
        context = DataParallelContext(case, engine, meters_every_device=layout.nnodes == 1)
        record = run_case(case, run_id, context=context, snapshot_path=record_file + SNAPSHOT_SUFFIX)
        if layout.node_rank > 0 and record.status == "ok":
            forensics.write_not_writer(case, record_file, run_id)
        else:
            write_record(record_file, record)
        engine.close()
        return 0
