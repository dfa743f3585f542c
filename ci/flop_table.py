"""Print, for each kernel's tiny preset, its analytic FLOPs against torch's
FlopCounterMode and XLA's cost analysis, as a Markdown table.

    python ci/flop_table.py [--preset tiny] [KERNEL ...]

Why the three columns differ, and by how much they may: ``kernels/flops.py``
(its docstring and ``EXPECTED``). The last column says whether each count is
inside its stated band; the exit status is 1 when one is not.
"""

from __future__ import annotations

import argparse
import sys

from accelbench import kernels
from accelbench.kernels import flops


def _ratio(value: float | None, analytic: float) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f} ({value / analytic:.4f}×)" if analytic else f"{value:,.0f}"


def _band(check: flops.CounterCheck, kernel, cfg) -> str:
    bounds = check.bounds(kernel, cfg)
    analytic = kernel.flops_per_step(cfg)
    if bounds is None:
        return "not checked"
    lo, hi = (b / analytic for b in bounds)
    return f"{lo:.3f}" if abs(hi - lo) < 1e-5 else f"{lo:.3f}–{hi:.3f}"


def rows(names: list[str], preset: str) -> tuple[list[str], bool]:
    lines = [
        "| kernel | convention | analytic | FlopCounterMode (÷ analytic) | XLA cost_analysis (÷ analytic) "
        "| expected torch ÷ analytic | expected XLA ÷ analytic | within |",
        "|---|---|---:|---:|---:|---|---|---|",
    ]
    all_ok = True
    for name in names:
        kernel = kernels.get(name)
        cfg = kernel.config(preset)
        analytic = kernel.flops_per_step(cfg)
        counted = flops.count(kernel, cfg)
        expected = flops.expectation(kernel)
        problems = [
            label
            for label, value, check in (("torch", counted.torch, expected.torch), ("xla", counted.xla, expected.xla))
            if value is not None and check.problem(kernel, cfg, value)
        ]
        all_ok &= not problems
        lines.append(
            f"| {name}:{preset} | {kernel.flop_convention} | {analytic:,.0f} | {_ratio(counted.torch, analytic)} "
            f"| {_ratio(counted.xla, analytic)} | {_band(expected.torch, kernel, cfg)} "
            f"| {_band(expected.xla, kernel, cfg)} | {'yes' if not problems else 'NO: ' + ', '.join(problems)} |"
        )
    return lines, all_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kernels", nargs="*", help="kernel names (default: every registered kernel)")
    parser.add_argument("--preset", default="tiny")
    args = parser.parse_args(argv)
    try:
        names = args.kernels or kernels.names()
        for name in names:
            kernels.get(name).config(args.preset)
    except kernels.KernelError as exc:
        print(f"flop_table: error: {exc}", file=sys.stderr)
        return 2
    lines, ok = rows(names, args.preset)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
