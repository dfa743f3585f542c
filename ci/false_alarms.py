"""How often does `accelbench compare` cry wolf, and does it catch a real slowdown? A benchmark, not a test.

1. False alarms: N pairs of identical runs of each suite (default: ``ci`` and the smoke suite), on this
   machine as it is and with background load (one busy-loop process per extra core asked for), each pair
   compared with ``accelbench compare`` (the suite's threshold: 10% for ci, the default 5% for smoke).
   The two runs of a pair are alternated (AB, then BA for the next pair), in this one process tree, so a
   drift of the machine over the session does not always favour one side. Counted per suite and load:
   cases called ``slower`` (the false alarms; goal 0 for ci), ``same``, ``faster`` and ``inconclusive``;
   and, beside them, the cases whose interval alone was wholly past the threshold (what compare would
   have said without its UNSTABLE and timed-the-same-way checks). For the ci suite, the README's recipe:
   the first run once more after the second (A B A), and the verdicts of ``compare --recheck``.
2. Forced slowdowns: the ci suite's GEMM run as it is (the base), then at once again with m scaled by
   1.5 and 2 (256 -> 384, 512: that many times the multiply-adds, really done), its records filed under
   the base's case names (what a code change that makes the same case do more work looks like to
   compare), compared with that base, run just before it, and with ``--recheck`` against the base run
   once more after it. Caught = called ``slower``.

Prints a line per comparison and a summary; writes every folder under --out, and log.jsonl there.

    python ci/false_alarms.py --pairs 2 --out /tmp/fa [--load 0 1] [--suites ci smoke] [--slowdowns 1.5 2]
    python ci/false_alarms.py --pairs 0 --out /tmp/fa-slow      # the forced slowdowns alone
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from accelbench.reports import compare

THRESHOLD_PCT = {"ci": 10.0, "smoke": compare.DEFAULT_THRESHOLD_PCT}
GEMM_M = 256  # the ci suite's kernel_settings.gemm.m (harness/suites/ci.toml)


def accelbench(*args: str) -> float:
    """Run the CLI (exit status ignored: a failed case shows in the comparison); returns the wall seconds."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "accelbench.harness.cli", *args, "--quiet"], check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def busy_loops(count: int) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.terminate()
        process.wait()


def judged(old: Path, new: Path, threshold_pct: float, again: Path | None = None) -> dict:
    """Verdict counts of compare, of the interval alone (without compare's checks), and with the base's
    re-run (``--recheck``, A B A) where there is one."""
    result = compare.compare_folders(old, new, threshold_pct)
    changes = result.changes
    by_interval = Counter("slower" if c.ci and c.ci[0] > result.threshold else "not slower" for c in changes)
    out = {"verdicts": dict(Counter(c.verdict for c in changes)), "interval_alone_slower": by_interval["slower"],
           "cases": {c.case_id: [c.verdict, c.note if c.verdict == compare.INCONCLUSIVE else "",
                                 round(c.change, 4) if c.change is not None else None] for c in changes}}
    if again is not None:
        rechecked = compare.compare_folders(old, new, threshold_pct, recheck_dir=again).changes
        out["rechecked"] = dict(Counter(c.verdict for c in rechecked))
        out["rechecked_cases"] = {c.case_id: [c.verdict, c.note if c.verdict == compare.INCONCLUSIVE else ""]
                                  for c in rechecked}
    return out


def log(out: Path, entry: dict) -> None:
    entry = {"load1": os.getloadavg()[0], **entry}
    with open(out / "log.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")
    print(json.dumps(entry), flush=True)


def slowdown(out: Path, factor: float) -> dict:
    """Run the ci suite's GEMM as it is, then with m × factor filed under the base's case names; compare."""
    base = out / f"gemm-base-for-x{factor:g}"
    accelbench("run", "--suite", "ci", "--kernel", "gemm:tiny", "--out", str(base))
    slowed = slowed_copy(base, out, factor)
    again = out / f"gemm-base-again-for-x{factor:g}"  # A B A: the base once more, after the slowed run
    accelbench("run", "--suite", "ci", "--kernel", "gemm:tiny", "--out", str(again))
    return {"slowdown": factor, **judged(base, slowed, THRESHOLD_PCT["ci"], again)}


def slowed_copy(base: Path, out: Path, factor: float) -> Path:
    """Run the ci suite's GEMM with m × factor; file its records under the base run's GEMM case names."""
    raw = out / f"gemm-x{factor:g}-raw"
    accelbench("run", "--suite", "ci", "--kernel", "gemm:tiny", "--set", f"m={round(GEMM_M * factor)}", "--out",
               str(raw))
    slowed = out / f"gemm-x{factor:g}"
    slowed.mkdir(exist_ok=True)
    for record in raw.glob("gemm-tiny--*.json"):
        backend = record.stem.split("--")[1]
        original = next(base.glob(f"gemm-tiny--{backend}*.json"))
        shutil.copy(record, slowed / original.name)
    return slowed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--pairs", type=int, default=2, help="pairs of identical runs per suite and load (default: 2)")
    parser.add_argument("--out", type=Path, required=True, help="a new folder for the runs and log.jsonl")
    parser.add_argument("--suites", nargs="+", default=["ci", "smoke"], choices=sorted(THRESHOLD_PCT))
    parser.add_argument("--load", nargs="+", type=int, default=[0, 1],
                        help="busy-loop processes added, one condition each (default: 0 1)")
    parser.add_argument("--slowdowns", nargs="*", type=float, default=[1.5, 2.0],
                        help="GEMM work factors for the forced slowdowns (default: 1.5 2)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=False)
    totals: dict[tuple[str, int], Counter] = {}
    if args.pairs == 0:  # the slowdowns alone
        for factor in args.slowdowns:
            log(args.out, slowdown(args.out, factor))
    for pair in range(args.pairs):
        for load in args.load:
            loops = busy_loops(load)
            try:
                for suite in args.suites:
                    a, b = (args.out / f"{suite}-load{load}-pair{pair}-{side}" for side in "ab")
                    walls = {}
                    for side in ("ab" if pair % 2 == 0 else "ba"):  # alternate which runs first
                        folder = a if side == "a" else b
                        walls[side] = accelbench("run", "--suite", suite, "--out", str(folder))
                    again = None
                    if suite == "ci":  # the README's recipe: A B A, judged with --recheck
                        first = a if pair % 2 == 0 else b
                        again = args.out / f"{suite}-load{load}-pair{pair}-again"
                        walls["again"] = accelbench("run", "--suite", suite, "--out", str(again))
                        a, b = first, (b if first == a else a)  # OLD is the run the re-run repeats
                    result = judged(a, b, THRESHOLD_PCT[suite], again)
                    totals.setdefault((suite, load), Counter()).update(
                        {**result["verdicts"], "interval alone slower": result["interval_alone_slower"], "pairs": 1,
                         **{f"rechecked {k}": v for k, v in result.get("rechecked", {}).items()}})
                    log(args.out, {"suite": suite, "busy_loops": load, "pair": pair, "wall_s": walls, **result})
            finally:
                stop(loops)
        if pair == 0:  # the slowdowns once, early, so a cut-short session has them
            for factor in args.slowdowns:
                log(args.out, slowdown(args.out, factor))
    print("\nsummary (cases over all pairs):")
    for (suite, load), counts in sorted(totals.items()):
        print(f"  {suite:<6} busy loops {load}: {counts.pop('pairs')} pairs; " + ", ".join(
            f"{v} {k}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
