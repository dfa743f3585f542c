"""Data-parallel cases: ``accelbench run --nproc N [--nnodes M ...]``.

A case with more than one device runs a training-step kernel data-parallel on
its framework's own engine (``backends.data_parallel``): PyTorch through
torchrun + DistributedDataParallel, JAX through a device mesh in one process
per host. The kernel's ``batch`` stays the GLOBAL batch, split evenly over the
devices, so the step computes what the one-device step with the same batch
computes (see ``backends.data_parallel`` for why).

Processes of one case (the runner starts the first, in a session of its own)::

    python -m accelbench.harness.distributed launch CASE.json RECORD.json RUN_ID
      torch: python -m torch.distributed.run --nproc-per-node N ... -m accelbench.harness.distributed rank CASE RECORD RUN_ID
      jax:   the case runs in the launcher itself (XLA_FLAGS set before JAX loads)

Rank 0 writes the record. A rank whose case fails writes ``rank-K.error.json``
beside the record and exits non-zero; torchrun then stops the other ranks,
and the launcher writes a failed record naming the first rank that failed.
Every rank asks the kernel for SIGKILL when its parent dies, so the runner's
timeout (which kills the launcher's process group) leaves no rank behind,
although torchrun starts each rank in a session of its own.

What the record gets: ``backend.device_count`` = devices in the run (nproc ×
nnodes); ``metrics.tokens_per_s`` = global tokens/s; ``backend.info.parallel``
= layout, per-device tokens/s, the gradient all-reduce timed apart, and the
scaling efficiency against a one-device record of the same case in the same
folder (written by the runner, ``annotate_scaling``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelbench import backends
from accelbench import kernels
from accelbench.harness import sharding
from accelbench.harness.plan import Case, PlanError
from accelbench.harness.records import load_record, record_files, write_atomic, write_record

RANK_ERROR_GLOB = "rank-*.error.json"
TORCHRUN_LOG = "torchrun.log"
LOG_TAIL_CHARS = 3000
SNAPSHOT_SUFFIX = ".partial"  # as harness.worker.SNAPSHOT_SUFFIX (not imported: that would load the worker here)
PARENT_PID_VAR = "ACCELBENCH_PARENT_PID"  # as harness.worker.PARENT_PID_VAR


@dataclass(frozen=True)
class Layout:
    """Where a data-parallel case runs, as given on the command line."""

    nproc: int = 1
    nnodes: int = 1
    node_rank: int = 0
    master_addr: str = ""
    master_port: int = 0
    rdzv_endpoint: str = ""

    @property
    def devices(self) -> int:
        return self.nproc * self.nnodes


LAYOUT_FIELDS = tuple(f.name for f in dataclasses.fields(Layout))


def devices_of(case: Case) -> int:
    return case.nproc * case.nnodes


def with_layout(cases: list[Case], layout: Layout) -> list[Case]:
    """The cases set to run on ``layout``; PlanError when one cannot."""
    for name in LAYOUT_FIELDS:
        value, kind = getattr(layout, name), int if name in ("nproc", "nnodes", "node_rank", "master_port") else str
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
    if layout.nnodes > 1 and not (layout.master_addr or layout.rdzv_endpoint):
        raise PlanError(f"--nnodes {layout.nnodes} needs --master-addr HOST [--master-port PORT] or --rdzv-endpoint HOST:PORT")
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
            raise PlanError(f"backend '{case.backend}' ({framework}) has no data-parallel engine; accepted: torch and jax backends")
        batch = getattr(kernel.config(case.preset, case.kernel_settings), "batch", None)
        if not isinstance(batch, int):
            raise PlanError(f"kernel '{case.kernel}' has no 'batch' setting to split over devices")
        if batch % layout.devices:
            raise PlanError(f"the global batch {batch} of {case.kernel}:{case.preset} does not split evenly over "
                            f"{layout.devices} devices; set --set batch=<a multiple of {layout.devices}>")
    port = layout.master_port or (29500 if layout.master_addr else 0)
    return [dataclasses.replace(c, nproc=layout.nproc, nnodes=layout.nnodes, node_rank=layout.node_rank,
                                master_addr=layout.master_addr, master_port=port, rdzv_endpoint=layout.rdzv_endpoint)
            for c in cases]


def add_layout_arguments(parser) -> None:
    """``accelbench run``'s data-parallel options (torchrun's names)."""
    parser.add_argument("--nproc", type=int, metavar="N",
                        help="run training steps data-parallel over N devices per node; the kernel's batch "
                             "stays the global batch (torch: torchrun + DDP; jax: a device mesh)")
    parser.add_argument("--nnodes", type=int, metavar="M", help="nodes in a multi-node run (default 1)")
    parser.add_argument("--node-rank", type=int, metavar="K", help="this node's index, 0 to M-1")
    parser.add_argument("--master-addr", metavar="HOST", help="node 0's address (multi-node)")
    parser.add_argument("--master-port", type=int, metavar="PORT", help="node 0's port (default 29500)")
    parser.add_argument("--rdzv-endpoint", metavar="HOST:PORT", help="torchrun c10d rendezvous instead of master addr/port")


def layout_from_args(cases: list[Case], args) -> list[Case]:
    """Apply the command line's layout to every case, or, when none was given
    (e.g. ``--resume`` of a stored plan), check each case's own."""
    given = {k: getattr(args, k) for k in LAYOUT_FIELDS if getattr(args, k, None) is not None}
    # what the command line leaves out stays the case's own (a suite's nproc under --nnodes/--node-rank)
    return [with_layout([c], Layout(**({k: getattr(c, k) for k in LAYOUT_FIELDS} | given)))[0] for c in cases]


def worker_command(case: Case, case_file, record_file, run_id: str) -> list[str]:
    """The command of a case's process: the plain worker, or this module's launcher."""
    entry = ["accelbench.harness.distributed", "launch"] if devices_of(case) > 1 else ["accelbench.harness.worker"]
    return [sys.executable, "-m", *entry, str(case_file), str(record_file), run_id]


def torchrun_command(case: Case, case_file, record_file, run_id: str) -> list[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={case.nproc}", "--max-restarts=0"]
    if case.nnodes == 1:
        cmd.append("--standalone")
    elif case.rdzv_endpoint:
        cmd += [f"--nnodes={case.nnodes}", f"--node-rank={case.node_rank}", "--rdzv-backend=c10d",
                f"--rdzv-endpoint={case.rdzv_endpoint}", f"--rdzv-id=accelbench-{case.case_id}"]
    else:
        cmd += [f"--nnodes={case.nnodes}", f"--node-rank={case.node_rank}",
                f"--master-addr={case.master_addr}", f"--master-port={case.master_port}"]
    return cmd + ["-m", "accelbench.harness.distributed", "rank", str(case_file), str(record_file), run_id]


# --------------------------------------------------------------- in the worker
@dataclass
class ParallelRun:
    """The worker's view of a data-parallel case (``accelbench.harness.worker._measure``
    calls these in place of the one-device prepare and loss read)."""

    case: Case
    engine: Any  # backends.data_parallel.TorchDataParallel | JaxMesh

    def prepare(self, backend, kernel, cfg, state):
        return self.engine.prepare(backend, kernel, cfg, state)

    def loss(self, backend, outputs) -> float | None:
        return self.engine.loss(backend, outputs)

    def memory_estimate_bytes(self, kernel, cfg, precision: str) -> float | None:
        """One device's memory: its share of the state (whole, or ÷ devices
        under FSDP) and the activations of its share of the batch."""
        memory = sharding.device_memory(kernel, cfg, precision, devices_of(self.case), sharding.shard_strategy(self.case))
        return None if memory is None else memory.total_bytes

    def describe(self, record) -> None:
        devices = devices_of(self.case)
        batch = record.kernel.config.get("batch")
        record.backend.device_count = devices
        record.backend.info["parallel"] = {
            "engine": self.engine.engine, "nproc": self.case.nproc, "nnodes": self.case.nnodes, "devices": devices,
            "batch_semantics": "global: the kernel's batch is split evenly over the devices",
            "global_batch": batch, "per_device_batch": batch // devices if batch else None,
            "shard": sharding.record_info(sharding.shard_strategy(self.case), devices, {}),
        }

    def finish(self, record) -> None:
        info = record.backend.info["parallel"]
        info["engine"] = self.engine.engine
        tokens_per_s = record.metrics.tokens_per_s
        info["tokens_per_s_global"] = tokens_per_s
        info["tokens_per_s_per_device"] = tokens_per_s / info["devices"] if tokens_per_s else None
        info["grad_allreduce"] = self.engine.grad_allreduce()
        info["shard"] = sharding.record_info(sharding.shard_strategy(self.case), info["devices"], self.engine.shard_info())


# ------------------------------------------------------------ scaling (runner)
def annotate_scaling(data: dict, folder: Path) -> None:
    """Add ``backend.info.parallel.scaling`` to an ok data-parallel record:
    efficiency = tokens/s on N devices ÷ (N × tokens/s of a one-device ok record
    of the same kernel, preset, backend and settings in ``folder``). The
    baseline's batch is the per-device batch (weak scaling, preferred) or the
    same global batch (strong scaling); 1.0 is perfect scaling."""
    info = (data.get("backend") or {}).get("info", {}).get("parallel")
    tokens_per_s = (data.get("metrics") or {}).get("tokens_per_s")
    if data.get("status") != "ok" or not isinstance(info, dict) or not tokens_per_s:
        return
    found: dict[str, tuple[str, float]] = {}
    for path in record_files(folder):
        try:
            other = load_record(path)
        except Exception:  # an unreadable neighbour is not this record's business
            continue
        kind = _baseline_kind(data, other, info)
        if kind and kind not in found:
            found[kind] = (path.name, other["metrics"]["tokens_per_s"])
    for kind in ("weak", "strong"):
        if kind in found:
            name, base = found[kind]
            info["scaling"] = {"kind": kind, "baseline": name, "baseline_tokens_per_s": base,
                               "efficiency": tokens_per_s / (info["devices"] * base)}
            return
    info["scaling"] = {"efficiency": None, "reason": "no one-device ok record of this case in the results folder"}


def _baseline_kind(data: dict, other: dict, info: dict) -> str | None:
    ob, db = other.get("backend") or {}, data["backend"]
    if other.get("status") != "ok" or ob.get("device_count", 1) != 1 or "parallel" in (ob.get("info") or {}):
        return None
    def unsharded(settings):  # a one-device run has no shard setting to match: shard=fsdp scales against it
        return {k: v for k, v in (settings or {}).items() if k != "shard"}

    if (other["kernel"].get("name"), other["kernel"].get("preset"), ob.get("name"), unsharded(ob.get("settings"))) != (
            data["kernel"].get("name"), data["kernel"].get("preset"), db.get("name"), unsharded(db.get("settings"))):
        return None
    mine, theirs = dict(data["kernel"].get("config") or {}), dict(other["kernel"].get("config") or {})
    batch = theirs.pop("batch", None)
    mine.pop("batch", None)
    if mine != theirs or not (other.get("metrics") or {}).get("tokens_per_s"):
        return None
    return {info["per_device_batch"]: "weak", info["global_batch"]: "strong"}.get(batch)


# ---------------------------------------------------------------- processes
def die_with_parent(parent_pid: int | None) -> None:
    """Linux: SIGKILL this process when its parent dies (prctl PR_SET_PDEATHSIG)."""
    if parent_pid is None or not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(137)


def _load_case(path: str) -> Case:
    with open(path) as f:
        return Case.from_dict(json.load(f))


def _launch(case_file: str, record_file: str, run_id: str) -> int:
    parent = os.environ.get(PARENT_PID_VAR)
    die_with_parent(int(parent) if parent and parent.isdigit() else None)
    case = _load_case(case_file)
    if backends.get_class(case.backend).framework == "jax":
        return _run_jax(case, record_file, run_id)
    workdir = Path(record_file).parent
    env = dict(os.environ)
    # One CPU share per rank, as torchrun would set (it sets 1) but fair to CPU backends.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // case.nproc)))
    with open(workdir / TORCHRUN_LOG, "wb") as log:
        code = subprocess.call(torchrun_command(case, case_file, record_file, run_id),
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    if code == 0:
        if case.node_rank > 0:
            _write_not_writer(case, record_file, run_id)
        return 0
    tail = (workdir / TORCHRUN_LOG).read_bytes()[-LOG_TAIL_CHARS:].decode(errors="replace")
    _write_failure(case, record_file, run_id, code, tail)
    return 0


def _run_jax(case: Case, record_file: str, run_id: str) -> int:
    from accelbench.backends.jax_mesh import JaxMesh
    from accelbench.harness import worker

    if getattr(backends.get_class(case.backend), "platform", "") == "cpu":
        flags = re.sub(r"--xla_force_host_platform_device_count=\S+", "", os.environ.get("XLA_FLAGS", ""))
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={case.nproc}".strip()
    coordinator = case.rdzv_endpoint or (f"{case.master_addr}:{case.master_port}" if case.master_addr else "")
    engine = JaxMesh(case.nproc, case.nnodes, case.node_rank, coordinator, sharding.shard_strategy(case))
    engine.start(getattr(backends.get_class(case.backend), "platform", ""))
    record = worker.run_case(case, run_id, snapshot_path=record_file + SNAPSHOT_SUFFIX,
                             parallel=ParallelRun(case, engine))
    if case.node_rank > 0 and record.status == "ok":
        _write_not_writer(case, record_file, run_id)
    else:
        write_record(record_file, record)
    engine.close()
    return 0


def _rank(case_file: str, record_file: str, run_id: str) -> int:
    die_with_parent(os.getppid())
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    error = None
    try:
        from accelbench.backends.data_parallel import TorchDataParallel
        from accelbench.harness import worker

        case = _load_case(case_file)
        engine = TorchDataParallel(rank, world, int(os.environ["LOCAL_RANK"]), sharding.shard_strategy(case))
        snapshot = record_file + SNAPSHOT_SUFFIX if rank == 0 else None
        record = worker.run_case(case, run_id, snapshot_path=snapshot, parallel=ParallelRun(case, engine))
        if rank == 0:
            write_record(record_file, record)
        if record.status == "failed":
            error = record.error or {"type": "Failed", "message": "the case failed"}
        else:
            engine.close()
    except BaseException as exc:  # noqa: BLE001  any failure of this rank must reach the launcher
        error = {"type": type(exc).__name__, "message": str(exc).strip() or repr(exc),
                 "traceback": traceback.format_exc(limit=8)}
    if error is None:
        return 0
    error = {**error, "rank": rank, "world_size": world, "local_rank": int(os.environ.get("LOCAL_RANK", -1)),
             "node_rank": int(os.environ.get("GROUP_RANK", 0)), "time": time.time()}
    write_atomic(Path(record_file).parent / f"rank-{rank}.error.json", error)
    return 1


def _write_not_writer(case: Case, record_file: str, run_id: str) -> None:
    from accelbench.harness.worker import new_record

    record = new_record(case, run_id, status="skipped")
    record.backend.device_count = devices_of(case)
    record.error = {"type": "NotRecordWriter",
                    "message": f"node {case.node_rank} of {case.nnodes} ran its share; node 0 writes this case's record"}
    write_record(record_file, record)


def _write_failure(case: Case, record_file: str, run_id: str, code: int, tail: str) -> None:
    """A failed record naming the rank that failed first; rank 0's own record
    (or its last snapshot) is kept for what it measured."""
    from accelbench.harness.worker import new_record

    data = None
    for path in (record_file, record_file + SNAPSHOT_SUFFIX):
        try:
            data = load_record(path)
            break
        except Exception:
            continue
    data = data or new_record(case, run_id).to_dict()
    data["status"] = "failed"
    data["backend"]["device_count"] = devices_of(case)
    data["error"] = rank_failure(Path(record_file).parent, devices_of(case), code, tail)
    write_atomic(record_file, data)


TORCHRUN_FAILURE = re.compile(r"rank\s*:\s*(\d+)[^\n]*\n\s*exitcode\s*:\s*(-?\d+)")
"""One failed rank in torchrun's ChildFailedError summary ("rank : 1 (local_rank: 1)" / "exitcode : -9 ...")."""
STOPPED_BY_TORCHRUN = {-signal.SIGTERM, -signal.SIGINT}


def rank_failure(workdir: Path, world: int, code: int, tail: str) -> dict:
    """The error of a failed data-parallel case, naming the rank that failed
    first: a rank that died of a signal without a word (a crash, the OOM
    killer) if any, since its peers then fail on a broken connection; else the
    rank whose error file is the earliest."""
    errors = []
    for path in sorted(workdir.glob(RANK_ERROR_GLOB)):
        try:
            errors.append(json.loads(path.read_text()))
        except (OSError, ValueError):
            continue
    errors.sort(key=lambda e: e.get("time", 0))
    reported = {e.get("rank") for e in errors}
    silent = [(int(r), int(c)) for r, c in TORCHRUN_FAILURE.findall(tail)
              if int(r) not in reported and int(c) not in STOPPED_BY_TORCHRUN]
    later = [f"rank {e['rank']} ({e['type']})" for e in errors]
    if silent:
        rank, status = silent[0]
        message = f"rank {rank} of {world} {_exit_words(status)} without reporting an error"
    elif errors:
        rank = errors[0]["rank"]
        message = f"rank {rank} of {world} failed: {errors[0]['type']}: {errors[0]['message']}"
        later = later[1:]
    else:
        last = tail.strip().splitlines()[-1] if tail.strip() else ""
        return {"type": "LaunchFailure", "message": f"torchrun exited with status {code}: {last}", "torchrun_tail": tail}
    if later:
        message += "; then " + ", ".join(later)
    return {"type": "RankFailure", "message": message, "rank": rank, "rank_errors": errors, "torchrun_tail": tail}


def _exit_words(status: int) -> str:
    if status < 0 and -status in signal.valid_signals():
        return f"died of {signal.Signals(-status).name}"
    return f"exited with status {status}"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    entries = {"launch": _launch, "rank": _rank}
    if len(argv) != 4 or argv[0] not in entries:
        print("usage: python -m accelbench.harness.distributed {launch|rank} CASE.json RECORD.json RUN_ID", file=sys.stderr)
        return 2
    return entries[argv[0]](*argv[1:])


if __name__ == "__main__":
    sys.exit(main())
