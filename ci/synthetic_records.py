"""How fast is `accelbench report` over many records? A benchmark, not a test.

Makes 2,000 records (50 workloads × 40 backends) in a folder: copies of one
real record (``ci/data/seed-gpt2-tiny--torch-cpu.json``, a gpt2:tiny case on
torch-cpu from `accelbench run` on a 2-core CPU machine), each with its own
kernel preset and backend name and its step times scaled by a factor drawn
from a seeded generator (so every figure, interval and ratio differs), and a
price on three backends in four (one in ten of them a what-if) so the cost
column and chart are exercised. Then times ``accelbench report FOLDER --md
--html --csv`` in a child process and prints the wall time, the child's peak
resident set (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) and the machine's
load before and after, beside the goals (under 10 s and 400 MB).

    python ci/synthetic_records.py [--workloads 50] [--backends 40] [--keep DIR] [--profile FILE]

``make_records(folder, workloads=50, backends=40)`` is the generator alone,
for other benchmarks (ci/bench_tool.py).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SEED_RECORD = Path(__file__).parent / "data" / "seed-gpt2-tiny--torch-cpu.json"
GOAL_S, GOAL_MB = 10.0, 400.0
USD_PER_HOUR = (1.0, 2.5, 4.0, 12.0)


def _scaled_timing(timing: dict, factor: float) -> dict:
    """The seed's step times × ``factor`` (every statistic and sample alike)."""
    out = copy.deepcopy(timing)
    step = out["step_s"]
    for key in ("median", "mean", "min", "max", "p10", "p90", "stdev"):
        if isinstance(step.get(key), (int, float)):
            step[key] *= factor
    step["ci95"] = [x * factor for x in step["ci95"]]
    out["samples_s"] = [x * factor for x in out["samples_s"]]
    out["fenced_samples_s"] = [x * factor for x in out.get("fenced_samples_s") or []]
    return out


def _cost(usd_per_hour: float, tokens: float, step_s: float, ci: list[float], what_if: bool) -> dict:
    from accelbench.harness.cost import FORMULA, UNCONFIRMED, WHAT_IF, usd_per_mtok

    return {"instance": None, "usd_per_hour": usd_per_hour, "chips_priced": 1.0,
            "usd_per_mtok": usd_per_mtok(usd_per_hour, tokens, step_s),
            "usd_per_mtok_ci95": [usd_per_mtok(usd_per_hour, tokens, x) for x in ci],
            "source": "synthetic (ci/synthetic_records.py)", "as_of": "2026-12-01",
            "instance_usd_per_hour": usd_per_hour, "chips_per_instance": 1.0,
            "chips_per_instance_source": "synthetic", "price_source": f"synthetic ${usd_per_hour}/h",
            "marks": [WHAT_IF, UNCONFIRMED] if what_if else [], "formula": FORMULA,
            "device_matches": not what_if, "confirmed": not what_if}


def make_records(folder: str | Path, workloads: int = 50, backends: int = 40,
                 seed_record: str | Path = SEED_RECORD, seed: int = 0) -> list[Path]:
    """Write ``workloads × backends`` records into ``folder`` (made if absent); returns their paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = json.loads(Path(seed_record).read_text())
    rng = random.Random(seed)
    tokens = float(base["kernel"]["tokens_per_step"])
    paths = []
    for w in range(workloads):
        preset = f"w{w:02d}"
        for b in range(backends):
            record = copy.deepcopy(base)
            backend = f"{base['backend']['name']}-b{b:02d}"
            factor = rng.uniform(0.3, 3.0)
            record["kernel"]["preset"] = preset
            record["backend"]["name"] = backend
            record["timing"] = _scaled_timing(base["timing"], factor)
            for key in ("tokens_per_s", "tflops", "hbm_tbps"):
                if isinstance(record["metrics"].get(key), (int, float)):
                    record["metrics"][key] /= factor
            step = record["timing"]["step_s"]
            record["cost"] = (_cost(USD_PER_HOUR[b % len(USD_PER_HOUR)], tokens, step["median"], step["ci95"],
                                    what_if=b % 10 == 9) if b % 4 != 3 else None)
            path = folder / f"{base['kernel']['name']}-{preset}--{backend}.json"
            path.write_text(json.dumps(record))
            paths.append(path)
    return paths


def load() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ", 3)[:3].__str__()
    except OSError:
        return "unknown"


def time_report(folder: Path, out: Path, profile: str | None = None) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds (user + system: what a loaded machine does not inflate much),
    the child's peak RSS in MB, and its exit status for one `accelbench report`."""
    cli = ["-m", "accelbench.harness.cli"]
    if profile:
        cli = ["-m", "cProfile", "-o", profile, "-m", "accelbench.harness.cli"]
    command = [sys.executable, *cli, "report", str(folder), "--md", str(out / "report.md"),
               "--html", str(out / "report.html"), "--csv", str(out / "report.csv")]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, done.returncode  # ru_maxrss: KiB on Linux, the largest child so far


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--workloads", type=int, default=50)
    parser.add_argument("--backends", type=int, default=40)
    parser.add_argument("--keep", help="make the records (and the reports) in this folder and keep them")
    parser.add_argument("--profile", help="run the report under cProfile, its stats written to this file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        records, out = root / "records", root / "out"
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        made = make_records(records, args.workloads, args.backends)
        print(f"made {len(made):,} records ({args.workloads} workloads × {args.backends} backends) "
              f"in {time.perf_counter() - t0:.1f} s")
        before = load()
        wall, cpu, peak_mb, status = time_report(records, out, args.profile)
        after = load()
    cpus = os.cpu_count()
    print(f"accelbench report over {len(made):,} records: {wall:.1f} s wall (goal < {GOAL_S:g} s), {cpu:.1f} s CPU, "
          f"peak RSS {peak_mb:.0f} MB (goal < {GOAL_MB:g} MB), exit {status}")
    print(f"load average (1, 5, 15 min) before {before}, after {after}, on {cpus} CPUs"
          + (" (under cProfile: slower than a plain run)" if args.profile else ""))
    return 1 if status else 0


if __name__ == "__main__":
    sys.exit(main())
