"""Is the tool fast where people wait? A benchmark, not a test (issue 21).

Prints four figures, each with the machine's load average beside it
(``/proc/loadavg``: on a shared machine read them as ratios):

a. a tiny torch-cpu case (``accelbench run --kernel gemm:tiny --backend torch-cpu``)
   against a bare ``python -c "import torch"``, interleaved round by round so drift
   on a shared machine hits both alike; goal: the case within 1.5 s of the import;
b. the smoke suite (``accelbench run``); goal: under 15 s on a quiet 2-core machine;
c. ``accelbench report`` over 2,000 synthetic records (``ci/synthetic_records.py``'s
   ``make_records``; "not available" where that generator is missing);
   goal: under 10 s and under 400 MB;
d. ``accelbench --help`` and ``accelbench --version``; goal: under 0.3 s each.

    python ci/bench_tool.py [--rounds 3] [--only a,b,c,d]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASE_GOAL_S, SMOKE_GOAL_S, REPORT_GOAL_S, REPORT_GOAL_MB, CLI_GOAL_S = 1.5, 15.0, 10.0, 400.0, 0.3


def accelbench() -> list[str]:
    """The command line that starts the CLI: the installed script, else the module."""
    script = shutil.which("accelbench")
    return [script] if script else [sys.executable, "-m", "accelbench.harness.cli"]


def load() -> str:
    try:
        return "load " + " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "load unknown (no /proc/loadavg)"


def wall(cmd: list[str], cwd: str | None = None) -> float:
    """Seconds ``cmd`` ran; SystemExit naming it when it fails (a failed run times nothing)."""
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0,):
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(f"bench_tool: {' '.join(cmd)} exited {done.returncode}: {tail[0]}")
    return elapsed


PEAK_PROBE = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)")
"""Runs a command as this wrapper's only child, so the peak RSS it prints is that command's alone (this
process's own RUSAGE_CHILDREN also holds every earlier figure's children, e.g. the smoke suite's)."""


def wall_and_peak(cmd: list[str]) -> tuple[float, float]:
    """Seconds ``cmd`` ran and its peak resident memory in MB (Linux reports KiB)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK_PROBE, *cmd], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SystemExit(f"bench_tool: {' '.join(cmd)} exited {done.returncode}: {tail[0]}")
    return elapsed, int(done.stdout.strip().splitlines()[-1]) / 1024


def tiny_case(rounds: int) -> None:
    cases, imports = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            imports.append(wall([sys.executable, "-c", "import torch"]))
            cases.append(wall(accelbench() + ["run", "--kernel", "gemm:tiny", "--backend", "torch-cpu", "--quiet",
                                              "--out", f"{tmp}/r{i}"]))
    case, bare = statistics.median(cases), statistics.median(imports)
    verdict = "meets" if case - bare <= CASE_GOAL_S else "misses"
    print(f"a. tiny case: accelbench run --kernel gemm:tiny --backend torch-cpu {case:.2f} s, "
          f"python -c 'import torch' {bare:.2f} s: +{case - bare:.2f} s ({case / bare:.2f}x; "
          f"medians of {rounds}; goal +{CASE_GOAL_S} s: {verdict}) [{load()}]")


def smoke(rounds: int) -> None:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            times.append(wall(accelbench() + ["run", "--quiet", "--out", f"{tmp}/r{i}"]))
    t = statistics.median(times)
    print(f"b. smoke suite: accelbench run {t:.2f} s (median of {rounds}; goal < {SMOKE_GOAL_S:g} s on a quiet "
          f"machine: {'meets' if t < SMOKE_GOAL_S else 'misses'}) [{load()}]")


def report(workloads: int = 50, backends: int = 40) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    try:
        from synthetic_records import make_records  # ci/synthetic_records.py (helper `columns`)
    except ImportError:
        print(f"c. report over {workloads * backends:,} records: not available (ci/synthetic_records.py missing)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        make_records(Path(tmp) / "records", workloads, backends)
        t, peak_mb = wall_and_peak(accelbench() + ["report", str(Path(tmp) / "records"), "--md", f"{tmp}/r.md",
                                                   "--html", f"{tmp}/r.html"])
    ok = t < REPORT_GOAL_S and peak_mb < REPORT_GOAL_MB
    print(f"c. report over {workloads * backends:,} records: {t:.2f} s, peak {peak_mb:.0f} MB "
          f"(goal < {REPORT_GOAL_S:g} s, < {REPORT_GOAL_MB:g} MB: {'meets' if ok else 'misses'}) [{load()}]")


def cli(rounds: int) -> None:
    for flag in ("--help", "--version"):
        t = statistics.median(wall(accelbench() + [flag]) for _ in range(max(rounds, 5)))
        print(f"d. accelbench {flag}: {t:.3f} s (median of {max(rounds, 5)}; goal < {CLI_GOAL_S} s: "
              f"{'meets' if t < CLI_GOAL_S else 'misses'}) [{load()}]")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=3, help="runs per timed command, medians printed (default 3)")
    p.add_argument("--only", default="a,b,c,d", help="which figures, comma-separated (default a,b,c,d)")
    args = p.parse_args(argv)
    figures = {"a": lambda: tiny_case(args.rounds), "b": lambda: smoke(args.rounds), "c": report,
               "d": lambda: cli(args.rounds)}
    for name in args.only.split(","):
        figures[name.strip()]()
    return 0


if __name__ == "__main__":
    sys.exit(main())
