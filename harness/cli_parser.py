"""The ``accelbench`` command line's options: every command, flag, default and help text (``--help``
imports only this, harness/cli_args.py and harness/units.py). harness/cli.py runs the commands."""

from __future__ import annotations

import argparse

from accelbench.facts.exitcodes import EXIT_STATUS_HELP
from accelbench.harness import units
from accelbench.harness.cli_args import COMPARE_EXIT_HELP, REPORT_EXIT_HELP, Parser, SetAction


def build_parser() -> Parser:
    p = Parser(prog="accelbench", description="What a training token costs, on every accelerator.")
    p.add_argument("--version", action="version", version=f"accelbench {_version()}")
    sub = p.add_subparsers(dest="command", parser_class=Parser)
    as_json = "print JSON instead of text (default: text)"

    b = sub.add_parser("backends", help="every registered backend, available or not, and why")
    b.add_argument("--json", action="store_true", help=as_json)
    k = sub.add_parser("kernels", help="kernels, presets, lowerings and --set keys")
    k.add_argument("--json", action="store_true", help=as_json)
    e = sub.add_parser("env", help="what this machine has")
    e.add_argument("--json", action="store_true", help=as_json)

    r = sub.add_parser("run", help="run a suite or kernels on backends and write result records",
                       epilog=EXIT_STATUS_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--suite", help="built-in suite name or path to a suite .toml (default: smoke)")
    r.add_argument("--kernel", action="append", default=[], metavar="K[:PRESET]",
                   help="kernel and preset to run, repeatable (default: the suite's kernels; preset default: tiny)")
    r.add_argument("--backend", action="append", default=[], metavar="B",
                   help="backend to run on, repeatable (default: the suite's backends, else torch-cpu)")
    r.add_argument("--set", action=SetAction, default=[], dest="set_items", metavar="KEY=VALUE",
                   help="a kernel or backend setting, repeatable; `accelbench kernels` lists the keys "
                        "(default: the preset's values)")
    r.add_argument("--steps", type=int, help="steps per timed window, one fence each (default: the suite's, else 10)")
    r.add_argument("--warmup", type=int, help="untimed warm-up steps (default: the suite's, else 2)")
    r.add_argument("--windows", "--repeats", dest="windows", type=int, metavar="N",
                   help="timed windows of --steps steps; --repeats is its older name (default: the suite's, else 10)")
    r.add_argument("--timeout", type=units.seconds, metavar="SECONDS",
                   help="wall-clock limit per case, compile included, in seconds or with a unit (300, 300s, 5m, "
                        "1h); a case past it is killed and recorded failed (default: the suite's 'timeout', else the preset's own, else 300 s for tiny "
                        "presets and 3600 s for the others)")
    r.add_argument("--out", help="results folder (default: a new results/RUN_ID/, with results/latest pointing at it)")
    r.add_argument("--report", help="report file: FILE.md (HTML beside it as FILE.html) or FILE.html (Markdown "
                                    "beside it as FILE.md) (default: OUT/report.md and OUT/report.html)")
    r.add_argument("--resume", nargs="?", const=True, default=False, metavar="DIR",
                   help="finish an interrupted run: run the plan stored in DIR/plan.json (or the plan given "
                        "with --kernel/--suite), skipping cases that already have an ok record; "
                        "without DIR, the --out folder, else results/latest (default: off)")
    r.add_argument("--overwrite", action="store_true",
                   help="run into an --out folder that holds records of another run, deleting its records, "
                        "plan and report first (default: off, such a folder is refused unless --resume)")
    r.add_argument("--progress", choices=("auto", "rich", "plain", "jsonl"), default=None,
                   help="progress on stderr: rich (live), plain lines, or jsonl (one JSON event per line, for "
                        "scripts) (default: auto, rich on a terminal and plain otherwise)")
    r.add_argument("--quiet", action="store_true",
                   help="no progress and no summary on stderr; errors only (default: off)")
    r.add_argument("--allow-unavailable", action="store_true",
                   help="exit 0 even when a backend named with --backend is unavailable or all its cases were "
                        "skipped (default: off, exit 3)")
    r.add_argument("--dry-run", action="store_true",
                   help="print the cases, their per-device memory, the estimated time and (with a price) cost; "
                        "run nothing (default: off)")
    r.add_argument("--no-fit-check", action="store_true",
                   help="run cases even when the kernel's memory estimate exceeds the memory available "
                        "(default: off, such cases are recorded skipped)")
    _add_pricing_arguments(r)
    from accelbench.harness.layout import add_layout_arguments  # --nproc, --nnodes, ...: data-parallel runs

    add_layout_arguments(r)

    su = sub.add_parser("suites", help="built-in suites: their kernels, backends and settings")
    su.add_argument("--json", action="store_true", help=as_json)

    pr = sub.add_parser("prices", help="instance prices and device peaks, with their sources")
    pr.add_argument("--json", action="store_true", help=as_json)
    pr.add_argument("--prices", metavar="FILE",
                    help="TOML price file merged over the built-in prices (default: the built-in prices only)")

    rep = sub.add_parser("report", help="write a report from results folders", epilog=REPORT_EXIT_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("dirs", nargs="+", metavar="DIR[=INSTANCE]",
                     help="results folders, one or more; DIR=INSTANCE re-prices that folder's records as INSTANCE "
                          "(at --tier where given)")
    rep.add_argument("--md", help="Markdown file, plots beside it in STEM_plots/ (default: print to stdout)")
    rep.add_argument("--html", help="self-contained HTML file, plots embedded (default: none)")
    rep.add_argument("--csv", help="CSV file: every field of every record, one row per case (default: none)")
    rep.add_argument("--baseline", metavar="BACKEND",
                     help="backend the '× baseline' column divides by (default: the one in most workloads)")
    rep.add_argument("--references", action="store_true",
                     help="add the published reference points (facts/data/references.toml) as rows labelled "
                          "'published' (default: off)")
    rep.add_argument("--all-runs", action="store_true",
                     help="keep every record of a case found in several runs (default: off, the newest only)")
    rep.add_argument("--train-tokens", type=_train_tokens, metavar="N",
                     help="add the cost and time of training N tokens (1e9, 500M, 2B) per case, the time paid "
                          "before the first timed step, and a break-even per workload (default: off)")
    rep.add_argument("--pool-runs", action="store_true",
                     help="pool each case's runs (run history, several hosts) into one row, its interval from a "
                          "two-level bootstrap over runs and windows (default: off, the newest run only)")
    rep.add_argument("--tiers", choices=("all",),
                     help="all: add $/1M tokens at every price tier of each case's instance and the cheapest case "
                          "per tier (default: off)")
    _add_pricing_arguments(rep, when="re-price the saved records: ")

    cmp = sub.add_parser("compare", help="exit 1 when a case in NEW is slower than in OLD past the threshold, "
                                         "failing, or missing", epilog=COMPARE_EXIT_HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    cmp.add_argument("old", metavar="OLD", help="the earlier results folder; alone, a folder with run history "
                                                "(results/): its latest run against the one before")
    cmp.add_argument("new", metavar="NEW", nargs="?", default=None, help="the later results folder (default: "
                                                                         "OLD's latest run, see OLD)")
    cmp.add_argument("--pool-runs", action="store_true",
                     help="with OLD alone (run history): pool every earlier run of each case into OLD, its "
                          "interval a two-level bootstrap over runs and windows (default: off, the run before)")
    cmp.add_argument("--threshold", type=units.percent, default=None, metavar="PCT",
                     help="smallest change that counts, in %% (5 or 5%%): a case is slower when the whole 95%% "
                          "interval of new/old lies above 1 + PCT/100, the same when it lies within ±PCT/100 "
                          "(default: 5; the ci suite's recipe uses 10)")
    cmp.add_argument("--recheck", metavar="OLD_AGAIN", default=None,
                     help="the base run again, after NEW (A, B, A): a verdict stands only when OLD and OLD_AGAIN "
                          "are the same within the threshold and NEW compares alike against both; otherwise the "
                          "case is inconclusive, naming the drift (default: off)")
    cmp.add_argument("--strict", action="store_true",
                     help="exit 1 also for inconclusive cases (UNSTABLE timing, timed differently, too few "
                          "windows, too noisy to tell) (default: off, they are listed and exit 0)")
    return p


def _train_tokens(text: str) -> float:
    try:
        return units.parse_tokens(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_pricing_arguments(p, when: str = "") -> None:
    """--instance | --usd-per-hour, --chips-per-instance, --prices (harness/cost.py says how a run is priced)."""
    pricing = p.add_mutually_exclusive_group()
    pricing.add_argument("--instance", metavar="NAME",
                         help=when + "price as this instance (see `accelbench prices`) (default: unpriced"
                         + (", or the price the run was given)" if when else ")"))
    pricing.add_argument("--usd-per-hour", type=units.usd_per_hour, metavar="X",
                         help=when + "price at X US dollars per hour (55.04, $55.04 or 55.04/h) for the WHOLE instance; a run is charged "
                                     "X x chips measured / chips per instance (default: unpriced"
                         + (", or the price the run was given)" if when else ")"))
    p.add_argument("--chips-per-instance", type=int, metavar="N",
                   help="chips of the priced instance, when discovery on the host cannot tell (or to override it) "
                        "(default: from discovery, else the price list)")
    p.add_argument("--prices", metavar="FILE",
                   help="TOML price file merged over the built-in prices (default: the built-in prices only)")
    p.add_argument("--tier", metavar="NAME",  # accelbench.facts.catalog.TIERS
                   help="how the --instance is bought: on-demand, spot, reserved-1y/-3y, savings-plan-1y/-3y, "
                        "capacity-block, committed-use-1y/-3y; `accelbench prices` lists each instance's tiers "
                        "(default: the entry's own price, on-demand)")


def _version() -> str:
    import accelbench

    return accelbench.__version__
