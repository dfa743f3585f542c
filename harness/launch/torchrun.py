"""The torchrun launcher: one process per device, DistributedDataParallel
(``backends.data_parallel.TorchDataParallel``: DDP replicas or FSDP2 shards).

    python -m accelbench.harness.launch torchrun CASE.json RECORD.json RUN_ID
      python -m torch.distributed.run --nproc-per-node N ... -m accelbench.harness.launch torchrun CASE RECORD RUN_ID --worker

Rank r runs on device ``LOCAL_RANK`` of its node: the backend is built for
that device (``Backend(settings, device_index=LOCAL_RANK)``) and the backend's
``rank_environment`` is applied before the framework loads (a NeuronCore per
process). Rank 0 writes the record. A rank whose case fails writes
``rank-K.error.json`` beside the record and exits non-zero; torchrun then
stops the other ranks, and the launcher writes a failed record naming the
first rank that failed (``forensics``). Every rank asks the kernel for
SIGKILL when its parent dies, so the runner's timeout (which kills the
launcher's process group) leaves no rank behind, although torchrun starts
each rank in a session of its own.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import traceback
from pathlib import Path

from accelbench import backends
from accelbench.harness import sharding
from accelbench.harness.launch import forensics
from accelbench.harness.context import DataParallelContext
from accelbench.harness.launch.base import Launcher, entry_command
from accelbench.harness.launch.process import SNAPSHOT_SUFFIX, die_with_parent, exit_without_teardown, load_case
from accelbench.harness.plan import Case
from accelbench.harness.records import write_record


class TorchrunLauncher(Launcher):
    name = "torchrun"

    @classmethod
    def runs_by_default(cls, case: Case, framework: str) -> bool:
        return framework == "torch"

    def torchrun_command(self, case: Case, case_file, record_file, run_id: str) -> list[str]:
        layout = case.layout
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={layout.nproc}", "--max-restarts=0"]
        if layout.nnodes == 1:
            cmd.append("--standalone")
        elif layout.rdzv_endpoint:
            cmd += [f"--nnodes={layout.nnodes}", f"--node-rank={layout.node_rank}", "--rdzv-backend=c10d",
                    f"--rdzv-endpoint={layout.rdzv_endpoint}", f"--rdzv-id=accelbench-{case.case_id}"]
        else:
            cmd += [f"--nnodes={layout.nnodes}", f"--node-rank={layout.node_rank}",
                    f"--master-addr={layout.master_addr}", f"--master-port={layout.master_port}"]
        return cmd + entry_command(self.name, case_file, record_file, run_id, worker=True)[1:]  # torchrun runs the python

    def launch(self, case: Case, case_file: str, record_file: str, run_id: str) -> int:
        workdir = Path(record_file).parent
        env = dict(os.environ)
        # One CPU share per rank, as torchrun would set (it sets 1) but fair to CPU backends.
        env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // case.layout.nproc)))
        with open(workdir / forensics.TORCHRUN_LOG, "wb") as log:
            code = subprocess.call(self.torchrun_command(case, case_file, record_file, run_id),
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
        if code == 0:
            if case.layout.node_rank > 0:
                forensics.write_not_writer(case, record_file, run_id)
            return 0
        tail = (workdir / forensics.TORCHRUN_LOG).read_bytes()[-forensics.LOG_TAIL_CHARS:].decode(errors="replace")
        forensics.write_failure(case, record_file, run_id, code, tail)
        return 0


    def worker(self, case_file: str, record_file: str, run_id: str) -> int:
        """One rank: it never returns (a process group torn down at interpreter exit can abort a rank that finished)."""
        import faulthandler

        faulthandler.enable(all_threads=True)  # a rank killed by a signal leaves its Python stack in torchrun's log
        exit_without_teardown(run_rank(case_file, record_file, run_id))


@dataclasses.dataclass
class TorchrunRankContext(DataParallelContext):
    """One torchrun rank: its device is ``LOCAL_RANK``, and its energy reading
    is summed with the other ranks' (a collective: every rank calls ``energy``)."""

    local_rank: int = 0

    def energy(self, reading):
        """The case's energy: the ranks' readings summed by an all-reduce. A
        device counter (NVML) counts on every rank; a host counter (RAPL: whole
        CPU packages, shared by a node's ranks) once per node, on local rank 0.
        Not measured when any rank has no reading."""
        from accelbench.harness.energy import EnergyReading

        if self.engine.group_backend == "xla":
            return super().energy(reading)
        import torch

        host_counter = (reading.method or "").startswith("rapl")
        counts = reading.method is not None and (self.local_rank == 0 or not host_counter)
        box = torch.tensor([reading.joules if counts else 0.0, 0.0 if reading.method else 1.0],
                           dtype=torch.float64, device=self.engine.device)
        self.engine.dist().all_reduce(box)  # SUM
        joules, missing = box.tolist()
        if missing:
            return EnergyReading(None, reason=f"not measured: {int(missing)} of {self.devices} ranks had no energy "
                                              f"reading (this rank: {reading.reason or reading.method})")
        per = "once per node (local rank 0: RAPL counts whole packages)" if host_counter else "on every rank's own device"
        return EnergyReading(reading.method, joules, reading.seconds, [f"{self.devices} ranks"], reading.samples,
                             reason=f"the ranks' readings summed (all-reduce), counted {per}; "
                                    f"rank {self.engine.rank}'s window; {reading.reason or ''}".rstrip("; "))


def rank_context(case: Case, environ, engine=None) -> TorchrunRankContext:
    """This rank's view of the case: its layout, its engine and its device
    (``LOCAL_RANK``), from torchrun's environment."""
    rank, world, local_rank = int(environ["RANK"]), int(environ["WORLD_SIZE"]), int(environ["LOCAL_RANK"])
    if engine is None:
        from accelbench.backends.data_parallel import TorchDataParallel

        engine = TorchDataParallel(rank, world, local_rank, sharding.shard_strategy(case))
    return TorchrunRankContext(case, engine, device_index=local_rank, local_rank=local_rank)


def run_rank(case_file: str, record_file: str, run_id: str, environ=os.environ) -> int:
    """The body of one torchrun rank."""
    die_with_parent(os.getppid())
    rank, world = int(environ["RANK"]), int(environ["WORLD_SIZE"])
    local_rank = int(environ.get("LOCAL_RANK", -1))
    error = None
    try:
        from accelbench.harness.measure import run_case

        case = load_case(case_file)
        environ.update(backends.get_class(case.backend).rank_environment(local_rank, environ))  # before torch loads the device
        context = rank_context(case, environ)
        snapshot = record_file + SNAPSHOT_SUFFIX if rank == 0 else None
        record = run_case(case, run_id, context=context, snapshot_path=snapshot)
        if rank == 0:
            write_record(record_file, record)
        if record.status == "failed":
            error = record.error or {"type": "Failed", "message": "the case failed"}
        else:
            context.engine.close()
    except BaseException as exc:  # noqa: BLE001  any failure of this rank must reach the launcher
        error = {"type": type(exc).__name__, "message": str(exc).strip() or repr(exc),
                 "traceback": traceback.format_exc(limit=8)}
    if error is None:
        return 0
    forensics.write_rank_error(record_file, error, rank, world, local_rank, int(environ.get("GROUP_RANK", 0)))
    return 1
