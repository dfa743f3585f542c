"""Throughput metrics from a case's analytic work and its median step time.

* tokens/s = tokens_per_step / median step time (training steps only).
* TFLOP/s  = flops_per_step / median step time / 1e12, with the kernel's FLOP
  convention (recorded beside it).
* HBM TB/s = bytes_per_step / median step time / 1e12: achieved bandwidth
  against the fewest bytes the kernel must move, so it never flatters.
"""

from __future__ import annotations

from harness.records import MetricsPart


def throughput(flops_per_step, bytes_per_step, tokens_per_step, median_step_s: float) -> MetricsPart:
    if median_step_s <= 0:
        raise ValueError(f"median step time must be positive, got {median_step_s}")
    return MetricsPart(
        tokens_per_s=tokens_per_step / median_step_s if tokens_per_step else None,
        tflops=flops_per_step / median_step_s / 1e12 if flops_per_step else None,
        hbm_tbps=bytes_per_step / median_step_s / 1e12 if bytes_per_step else None,
    )
