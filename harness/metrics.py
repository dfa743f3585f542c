"""Throughput and utilization metrics from a case's analytic work and its median step time.

* tokens/s = tokens_per_step / median step time (training steps only).
* TFLOP/s  = flops_per_step / median step time / 1e12, with the kernel's FLOP
  convention (recorded beside it).
* HBM TB/s = bytes_per_step / median step time / 1e12: achieved bandwidth
  against the fewest bytes the kernel must move, so it never flatters.
* MFU and bandwidth utilization divide those by the device catalog's figures
  (``facts/data/devices.toml``) for the chips the run used.

The style follows torchtitan's ``metrics.py`` and nanoGPT's ``estimate_mfu``:
every factor of a formula is named and sourced, so a reader can redo the
arithmetic from the record alone.
"""

from __future__ import annotations

import dataclasses

from accelbench.facts.catalog import DeviceSpec
from accelbench.harness.records import MetricsPart
from accelbench.kernels.precision import POLICIES

RECOMPUTE_NOTE = ("recomputed FLOPs are excluded: MFU counts the model's FLOPs under the kernel's convention; with remat "
                  "(activation checkpointing) the backward recomputes each block's forward, so the chip does about "
                  "8N FLOPs per token where 6N are counted, and its hardware FLOPs utilization is about 4/3 of the MFU")
"""What ``mfu_basis.recomputed_flops`` and the report's FLOP note say (one place)."""
MFU_LIMIT = 1.0
"""An MFU above 100% is impossible: it means the FLOP count or the timing (a
missing fence) is wrong, so the value is withheld and an error recorded."""



def throughput(flops_per_step, bytes_per_step, tokens_per_step, median_step_s: float) -> MetricsPart:
    if median_step_s <= 0:
        raise ValueError(f"median step time must be positive, got {median_step_s}")
    return MetricsPart(
        tokens_per_s=tokens_per_step / median_step_s if tokens_per_step else None,
        tflops=flops_per_step / median_step_s / 1e12 if flops_per_step else None,
        hbm_tbps=bytes_per_step / median_step_s / 1e12 if bytes_per_step else None,
    )


def mfu(achieved_tflops: float, peak_tflops_per_chip: float, chips: float) -> float:
    """Model FLOPs utilization (Chowdhery et al. 2022, "PaLM", appendix B):

        MFU = achieved model FLOP/s ÷ (dense peak FLOP/s per chip × chips)

    * achieved model FLOP/s: ``flops_per_step`` (the kernel's analytic count
      under its recorded convention, e.g. 6N + 12·L·d·T per token) ÷ the
      median step time; counted for the whole step across all chips.
    * dense peak per chip: the catalog's figure for the precision used; never
      a "with sparsity" figure (NVIDIA datasheets print those; the catalog
      halves them).
    * chips: how many physical chips the step ran on (``chips_used``: a
      fraction when one device is part of a chip, e.g. one NeuronCore).
    """
    return achieved_tflops / (peak_tflops_per_chip * chips)


def bandwidth_utilization(achieved_tbps: float, device_tbps_per_chip: float, chips: float) -> float:
    """Achieved ÷ peak memory bandwidth: ``hbm_tbps`` (minimum bytes a step
    must move ÷ median step time) over the catalog's per-chip TB/s × chips."""
    return achieved_tbps / (device_tbps_per_chip * chips)


def with_device_utilization(
    metrics: MetricsPart,
    device: DeviceSpec | None,
    precision: str | None,
    chips: float,
    flop_convention: str | None,
    device_kind: str | None = None,
    hbm_chips: float | None = None,
) -> MetricsPart:
    """``metrics`` with MFU and bandwidth utilization against ``device``, and
    ``mfu_basis`` saying exactly what was divided by what (or why nothing was).
    ``hbm_chips``: the chips whose bandwidth ``hbm_tbps`` is spread over, when
    not all of them (one replica's, under replicated data parallelism)."""
    out = dataclasses.replace(metrics, errors=list(metrics.errors))
    if device is None:
        out.mfu_basis = {"reason": f"device '{device_kind or 'unknown'}' is not in the device catalog "
                                   "(CPUs and unrecognised chips have no catalog peak)"}
        return out
    chips = chips if chips and chips > 0 else 1
    # Which dense peak a precision policy is measured against: kernels/precision.py.
    peak_key = POLICIES[precision].peak if precision in POLICIES else None
    peak = device.peak_tflops.get(peak_key) if peak_key else None
    basis = {
        "device": device.key,
        "precision": precision,
        "chips": chips,
        "flop_convention": flop_convention,
        "source": device.source,
        "as_of": device.as_of.isoformat(),
    }
    if metrics.hbm_tbps is not None:
        out.hbm_util = bandwidth_utilization(metrics.hbm_tbps, device.memory_tbps, hbm_chips or chips)
    if peak is None:
        basis["reason"] = (f"the catalog has no dense {peak_key or precision} peak for {device.key}"
                           f" (it lists: {', '.join(sorted(device.peak_tflops))})")
        out.mfu_basis = basis
        return out
    basis["peak_tflops_per_chip"] = peak
    basis["peak_confirmed"] = peak_key not in device.unconfirmed
    out.mfu_basis = basis
    if metrics.tflops is None:
        basis["reason"] = "the kernel states no FLOP count"
        return out
    value = mfu(metrics.tflops, peak, chips)
    if value > MFU_LIMIT:
        out.errors.append(
            f"MFU {value:.1%} is above 100% ({metrics.tflops:.4g} TFLOP/s achieved vs {peak:g} × {chips} peak): "
            "the FLOP count or the timing fence is wrong; MFU withheld"
        )
        return out
    out.mfu = value
    return out


def chips_used(backend_part) -> float:
    """How many physical chips the run used: ``device_count`` visible devices
    × the share of a chip each is (``info.device.chip_share``, from the
    backend's ``DeviceInfo``: one logical NeuronCore of a Trainium2 chip at
    LNC=2 is 1/4, one TensorCore of a TPU7x 1/2, a GPU 1). Data-parallel
    records count the same way: 8 ranks on 8 trn2 NeuronCores are 2 chips.
    MFU peaks, memory and prices are all per chip. ``backend_part``: a
    ``BackendPart`` or a saved record's ``backend`` dict."""
    part = backend_part if isinstance(backend_part, dict) else vars(backend_part)
    device = (part.get("info") or {}).get("device") or {}
    share = device.get("chip_share")
    if share is None:  # records written before chip_share: torch-xla on Trainium kept its fraction here
        share = device.get("chips_measured")
    count = max(int(part.get("device_count") or 1), 1)
    return count * float(share) if share else float(count)


def bandwidth_chips(backend_part) -> tuple[float | None, str | None]:
    """The chips ``hbm_tbps`` is measured against. ``bytes_per_step`` is the
    state one model copy reads and writes per step (kernels/language_model.py),
    so under replicated data parallelism (``shard=none``) every replica moves
    it at once, each over its own chips: one replica's bytes over one
    replica's chips. FSDP splits that state over all the chips (None: all)."""
    part = backend_part if isinstance(backend_part, dict) else vars(backend_part)
    parallel = (part.get("info") or {}).get("parallel") or {}
    devices = int(parallel.get("devices") or 1)
    strategy = (parallel.get("shard") or {}).get("strategy")
    if devices <= 1:
        return None, None
    if strategy == "fsdp":
        return None, f"the state is sharded over all {devices} devices: its bytes over every chip's bandwidth"
    return (chips_used(backend_part) / devices,
            f"{devices} replicas each move one model's bytes at once: one replica's bytes over one replica's chips")


def effective_precision(backend_part) -> str | None:
    """The precision the matmuls ran in (``info.matmul_precision.effective``,
    backends/matmul_precision.py), else the precision policy the record names."""
    plan = (backend_part.info or {}).get("matmul_precision") or {}
    return plan.get("effective") or backend_part.precision


def with_catalog_utilization(metrics: MetricsPart, kernel_part, backend_part, devices=None) -> MetricsPart:
    """``with_device_utilization`` for a record: the device is looked up in the
    catalog by ``backend.device_catalog_key``; the FLOP convention and
    precision come from the record's kernel and backend parts."""
    from accelbench.facts.catalog import load_devices

    key = backend_part.device_catalog_key
    devices = load_devices() if devices is None else devices
    if key is not None and key not in devices:
        out = dataclasses.replace(metrics, errors=list(metrics.errors))
        out.mfu_basis = {"reason": f"catalog key '{key}' is not in facts/data/devices.toml"}
        return out
    hbm_chips, hbm_basis = bandwidth_chips(backend_part)
    out = with_device_utilization(metrics, devices.get(key) if key else None, effective_precision(backend_part),
                                  chips_used(backend_part), kernel_part.flop_convention, backend_part.device_kind,
                                  hbm_chips)
    out.mfu_basis["remat"] = bool((kernel_part.config or {}).get("remat"))
    out.mfu_basis["recomputed_flops"] = RECOMPUTE_NOTE
    if hbm_basis:
        out.mfu_basis["hbm_chips"], out.mfu_basis["hbm_basis"] = hbm_chips, hbm_basis
    device = (backend_part.info or {}).get("device") or {}
    if device.get("chip_share") is not None:
        out.mfu_basis["chip_share"] = device["chip_share"]
        out.mfu_basis["chip_share_reason"] = device.get("chip_share_reason")
        out.mfu_basis["chip_share_source"] = device.get("chip_share_source", "read")  # facts/host.py's sources
        if device.get("chip_share_source") == "unknown" and out.mfu is not None:  # never a guessed chip count
            out.mfu = None
            out.errors.append("MFU withheld: the share of a chip one device is is unknown "
                              "(backend.info.device.chip_share_reason)")
    if key is not None:
        out.mfu_basis["peak_source"] = "looked-up"  # the catalog entry of the device key discovery read
    if effective_precision(backend_part) != backend_part.precision:
        out.mfu_basis["precision_requested"] = backend_part.precision
    assumed = ((backend_part.info or {}).get("matmul_precision") or {}).get("assumed")
    if assumed:
        out.mfu_basis["precision_assumed"] = assumed  # the precision-assumed mark's reason
    return out
