"""Does the harness add measurable overhead? A benchmark, not a test.

Times the same 1024×1024×1024 fp32 GEMM on torch-cpu two ways in one run,
interleaved round by round so drift on a shared machine hits both alike:

* bare: a hand-written loop, ``perf_counter`` around each ``a @ b``;
* harness: the full case path (``accelbench.harness.worker.run_case``: backend, kernel
  lowering, numerics-free preset, warm-up, fenced timed steps, statistics).

Prints both medians and their ratio (harness / bare); the goal is <= 1.03.

    python ci/bench_overhead.py [--rounds 5] [--steps 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

from accelbench.harness.plan import Case
from accelbench.harness.worker import run_case


def bare_loop(a, b, steps: int) -> list[float]:
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    import torch

    from accelbench import kernels
    kernel = kernels.get("gemm")
    state = kernel.make_state(kernel.config("1k"))
    a, b = torch.from_numpy(state["a"]), torch.from_numpy(state["b"])
    case = Case(kernel="gemm", preset="1k", backend="torch-cpu", steps=args.steps, warmup=2, repeats=1)

    bare_loop(a, b, 5)  # warm the BLAS threads
    bare, harness = [], []
    for _ in range(args.rounds):
        bare.extend(bare_loop(a, b, args.steps))
        record = run_case(case, run_id="overhead-benchmark")
        assert record.status == "ok", record.error
        harness.extend(record.timing.samples_s)

    bare_median, harness_median = statistics.median(bare), statistics.median(harness)
    ratio = harness_median / bare_median
    print(f"GEMM 1024^3 fp32 on torch-cpu ({torch.get_num_threads()} threads), "
          f"{args.rounds} rounds x {args.steps} steps each way")
    print(f"bare loop median step:  {bare_median * 1e3:.3f} ms")
    print(f"harness median step:    {harness_median * 1e3:.3f} ms")
    print(f"ratio harness/bare:     {ratio:.4f}  (goal <= 1.03: {'met' if ratio <= 1.03 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
