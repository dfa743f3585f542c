"""What the harness itself costs per timed window, against the windows of a results folder. A benchmark, not a test.

The harness's own cost in a window (backends/base.py ``Backend.time_window``) is two clock reads, the
Python loop calling ``prepared.step()`` k times, and one fence. It is measured here on each CPU backend
with a step that does no work (it returns an output computed once, already finished), so the window is
nothing but that cost: an upper bound on it. Then, for each case of a results folder (``accelbench run
--suite ci --out DIR``), the harness cost at that case's k is printed as a share of the case's median
window; the goal of ``--suite ci`` is under 1%.

    python ci/harness_cost.py DIR [--windows 300]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

GOAL = 0.01


class NoWork:
    """A prepared step that does nothing: ``step()`` returns an output that is already finished."""

    def __init__(self, output):
        self.output = output

    def step(self):
        return self.output


def harness_cost_s(backend_name: str, k: int, windows: int) -> float:
    """Median seconds of a window of k no-work steps on ``backend_name`` (clock reads, loop, fence)."""
    from accelbench import backends

    cls = backends.get_class(backend_name)
    backend = cls(cls.settings_cls())
    if backend_name.startswith("jax"):
        import jax.numpy as jnp

        output = jnp.ones((4,)).block_until_ready()
        backend.fence_covers({"state": output})
    else:
        import torch

        output = torch.ones(4)
    prepared = NoWork(output)
    for _ in range(20):  # warm the loop and the fence's first call
        backend.time_window(prepared, k)
    return statistics.median(backend.time_window(prepared, k)[0] for _ in range(windows))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("results", type=Path, help="a results folder (accelbench run --suite ci --out DIR)")
    parser.add_argument("--windows", type=int, default=300, help="no-work windows timed per backend (default: 300)")
    args = parser.parse_args(argv)
    cost: dict[tuple[str, int], float] = {}
    worst = 0.0
    print(f"{'case':<36} {'k':>3} {'window ms':>10} {'harness µs':>11} {'share':>7}")
    for path in sorted(args.results.glob("*--*.json")):
        record = json.loads(path.read_text())
        if record.get("status") != "ok":
            continue
        backend, timing = record["backend"]["name"], record["timing"]
        k = timing["steps"]
        key = (backend, k)
        if key not in cost:
            cost[key] = harness_cost_s(backend, k, args.windows)
        window = timing["step_s"]["median"] * k
        share = cost[key] / window
        worst = max(worst, share)
        print(f"{path.stem:<36} {k:>3} {window * 1e3:>10.3f} {cost[key] * 1e6:>11.1f} {share:>7.3%}")
    if not cost:
        print(f"no ok records in {args.results}", file=sys.stderr)
        return 3
    print(f"largest share: {worst:.3%} (goal: under {GOAL:.0%})")
    return 0 if worst < GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
