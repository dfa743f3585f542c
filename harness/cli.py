"""The ``accelbench`` command line.

Bad input of any kind ends with one line, ``accelbench: error: …``, naming
what was wrong and what is accepted, and exit status 2; nothing already
written is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from accelbench.facts.exitcodes import EXIT_MISSING, EXIT_STATUS_HELP, EXIT_USAGE
from accelbench.harness import units
from accelbench.harness.cli_args import COMPARE_EXIT_HELP, REPORT_EXIT_HELP, Parser, SetAction, UsageError
from accelbench.suggest import plural

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
    cmp.add_argument("--strict", action="store_true",
                     help="exit 1 also for inconclusive cases (UNSTABLE timing, timed differently, too few "
                          "windows, too noisy to tell) (default: off, they are listed and exit 0)")
    return p


def _train_tokens(text: str) -> float:
    from accelbench.reports.training_cost import parse_tokens  # no framework import

    try:
        return parse_tokens(text)
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


def cmd_backends(args) -> int:
    from accelbench import backends
    from accelbench.facts import stacks
    rows = []
    for name in backends.names():
        cls = backends.get_class(name)
        avail = backends.availability(name)
        rows.append({"name": name, "framework": getattr(cls, "framework", "?"), "available": avail.ok,
                     "reason": avail.reason, "fence": getattr(cls, "fence_description", ""),
                     "stacks": [s.summary() for s in stacks.for_backend(name)]})  # facts/data/stacks.toml
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            state = "available" if r["available"] else f"unavailable: {r['reason']}"
            print(f"{r['name']:<{width}}  {r['framework']:<5}  {state}")
            for stack in r["stacks"]:
                print(f"{'':<{width}}  {'':<5}  pinned stack: {stack}")
    return 0


def cmd_kernels(args) -> int:
    from accelbench import kernels
    described = [kernels.get(n).describe() for n in kernels.names()]
    if args.json:
        print(json.dumps(described, indent=2))
        return 0
    for d in described:
        lowerings = ", ".join(f for f, ok in d["lowerings"].items() if ok) or "none"
        missing = [f for f, ok in d["lowerings"].items() if not ok]
        note = f" (no {', '.join(missing)} lowering)" if missing else ""
        print(f"{d['name']:<14} presets: {', '.join(d['presets'])}; lowerings: {lowerings}{note}")
        print(f"{'':<14} {d['description']}")
        print(f"{'':<14} --set keys: {', '.join(d['settings'])}")
    backend_keys = _backend_setting_keys()
    if backend_keys:
        print(f"{'(backends)':<14} --set keys: {', '.join(backend_keys)}")
    return 0


def _backend_setting_keys() -> list[str]:
    """The --set keys some backend takes (each backend's settings dataclass)."""
    import dataclasses

    from accelbench import backends

    keys: set[str] = set()
    for name in backends.names():
        try:
            keys.update(f.name for f in dataclasses.fields(backends.get_class(name).settings_cls))
        except Exception:  # a third-party backend that fails to load must not hide the list
            continue
    return sorted(keys)


def cmd_env(args) -> int:
    from accelbench.backends import discovery
    from accelbench.backends.host_identity import host_identity
    from accelbench.facts import envinfo

    env = envinfo.capture(import_frameworks=True)
    env["hostname"] = env.pop("host")  # "host" is the machine's identity below (the same object `run` records)
    env |= {"accelerators": [vars(d) for d in discovery.discover_all()],
            "host": host_identity()}  # facts/host.py: instance type, region, chips, each with its source
    if args.json:
        print(json.dumps(env, indent=2))
    else:
        for key, value in env.items():
            print(f"{key:<14} {value}")
    return 0


def cmd_run(args) -> int:
    from accelbench.harness import history, planfile, preflight, runner
    from accelbench.harness.launch.layout_checks import layout_from_args

    preflight.check_run_flags(args)
    run_id = history.new_run_id()
    history_root = None
    if args.out is None and not isinstance(args.resume, str):
        if args.resume:  # --resume alone: the latest run
            latest = history.latest(history.RESULTS_ROOT)
            if latest is None:
                raise planfile.PlanError(f"--resume: no {history.RESULTS_ROOT}/{history.LATEST} to resume; "
                                         "accepted: --resume DIR")
            args.out = str(latest)  # history.latest gives RESULTS_ROOT / the run's name
        else:  # a new run of its own: results/<run id>/, results/latest pointing at it
            history_root, args.out = history.RESULTS_ROOT, str(history.RESULTS_ROOT / run_id)
    out, cases = planfile.resolve_run(args)
    cases = _with_pricing(cases, args)
    cases = layout_from_args(cases, args)
    if args.dry_run:  # before anything is written (accelbench.harness.dryrun)
        from accelbench.harness import dryrun

        from accelbench.harness.plan import load_suite

        differs = load_suite(args.suite).differs if args.suite else ""
        print(dryrun.describe(cases, out, bool(args.resume)) + (f"\nworkload differs from the flagship: {differs}"
                                                                 if differs else ""))
        return 0
    md_path, html_path = preflight.report_paths(args.report, out)
    preflight.check_folder_writable(out, "--resume" if isinstance(args.resume, str) else "--out")
    for path in (md_path, html_path):
        preflight.check_file_writable(path, "--report")
    _check_out_is_free(out, args)

    from accelbench.harness.progress import make_renderer  # case, phase, steps, elapsed: rich, plain, jsonl or quiet

    renderer = make_renderer("quiet" if args.quiet else (args.progress or "auto"), _describe)
    try:
        with renderer:
            if history_root is not None:
                out.mkdir(parents=True, exist_ok=True)
                history.point_latest(history_root, out.name)
            summary = runner.run_plan(cases, out, resume=bool(args.resume), on_case=renderer.on_case,
                                      on_event=renderer.on_event, run_id=run_id)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (runner.Interrupted)
        signum = getattr(exc, "signum", 2)
        print(f"accelbench: interrupted by {runner.signal_name(signum)}: the running case was stopped and has "
              f"no record; finished records in {out}/ are intact; finish with `accelbench run --resume {out}`",
              file=sys.stderr)
        return 128 + signum
    _write_report([out], md_path, html_path=html_path)
    counts = {s: sum(o.status == s for o in summary.outcomes) for s in ("ok", "failed", "skipped", "unavailable")}
    from accelbench.harness.progress import closing_marks

    renderer.finish(f"{plural(len(summary.outcomes), 'case')}: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
                    + f"; records in {out}/, report {md_path} and {html_path}"
                    + closing_marks([o.record for o in summary.outcomes]), counts)
    missing = runner.missing_backends(summary, list(args.backend), bool(args.suite))
    for line in missing:
        print(f"accelbench: {line}", file=sys.stderr)
    return runner.exit_status(summary, missing, args.allow_unavailable)


def _check_out_is_free(out: Path, args) -> None:
    """Refuse (one line, exit 2) to run a new plan into a folder holding another run's
    records, unless --resume (finish it) or --overwrite (delete them first)."""
    from accelbench.harness.planfile import PlanError, plan_path
    from accelbench.harness.records import record_files

    if args.resume and args.overwrite:
        raise PlanError("--resume and --overwrite contradict each other: --resume keeps the folder's records "
                        "and finishes its run, --overwrite deletes them; give one")
    if args.resume or not out.is_dir():
        return
    earlier = record_files(out) + ([plan_path(out)] if plan_path(out).exists() else [])
    if not earlier:
        return
    if not args.overwrite:
        raise PlanError(f"--out {out}: holds {plural(len(earlier), 'file')} of an earlier run "
                        f"({earlier[0].name}, ...); accepted: a new or empty folder, --resume to finish that run, "
                        f"or --overwrite to delete its records first")
    for path in earlier + [out / name for name in ("report.md", "report.html")]:
        path.unlink(missing_ok=True)  # the plots folder is rewritten by the report


def _describe(outcome) -> str:
    rec = outcome.record
    if outcome.status != "ok":
        err = rec.get("error") or {}
        return f"{outcome.status} ({err.get('type')}: {err.get('message')})"
    median = rec["timing"]["step_s"]["median"]
    parts = [f"ok, {median * 1e3:.3f} ms/step"]
    if rec["metrics"].get("tokens_per_s"):
        parts.append(f"{rec['metrics']['tokens_per_s']:,.0f} tok/s")
    if rec["metrics"].get("tflops"):
        parts.append(f"{rec['metrics']['tflops']:.3g} TFLOP/s")
    passed = rec["numerics"].get("passed")
    parts.append({True: "numerics passed", False: "numerics FAILED"}.get(passed, "numerics not checked"))
    return ", ".join(parts)


def _write_report(dirs, md_path: Path | None, html_path: Path | None = None, csv_path: Path | None = None,
                  baseline: str | None = None, references: bool = False, all_runs: bool = False,
                  reprice=None, train_tokens: float | None = None, tiers: bool = False,
                  pool_runs: bool = False) -> str:
    from accelbench.reports import report

    def warn(message: str) -> None:
        print(f"accelbench: warning: {message}", file=sys.stderr)

    _, text = report.write(dirs, md=md_path, html=html_path, csv=csv_path, baseline=baseline, warn=warn,
                           references=references, all_runs=all_runs, transform=reprice, train_tokens=train_tokens,
                           tiers=tiers, pool_runs=pool_runs)
    return text


def cmd_report(args) -> int:
    from accelbench.harness import preflight
    from accelbench.reports import pricing  # --instance/--usd-per-hour: re-price the saved records

    for flag in ("md", "html", "csv"):
        if getattr(args, flag) is not None:
            preflight.check_file_writable(getattr(args, flag), f"--{flag}")
    args.dirs, per_folder = pricing.split_folders(args.dirs)  # DIR=INSTANCE: that folder's own price
    reprice = pricing.from_args(args.instance, args.usd_per_hour, args.chips_per_instance, args.prices, args.tier,
                                per_folder)
    text = _write_report(args.dirs, args.md, args.html, args.csv, args.baseline, args.references, args.all_runs,
                         reprice, args.train_tokens, args.tiers == "all", args.pool_runs)  # load.NothingFound (exit 3) before writing: no record
    if not (args.md or args.html or args.csv):
        print(text)
    return 0


def cmd_compare(args) -> int:
    from accelbench.harness import history
    from accelbench.reports import compare

    old, new = (args.old, args.new) if args.new is not None else history.latest_and_previous(Path(args.old))
    if args.pool_runs and args.new is not None:
        raise UsageError("--pool-runs pools a run history's earlier runs: give OLD alone (e.g. results/)")
    pooled = [p for p in history.runs(Path(args.old)) if p.name < Path(new).name] if args.pool_runs else None
    result = compare.compare_folders(old, new, compare.DEFAULT_THRESHOLD_PCT if args.threshold is None
                                     else args.threshold, pooled_old=pooled)
    for warning in result.warnings:
        print(f"accelbench: warning: {warning}", file=sys.stderr)
    print(compare.format_text(result))
    for line in compare.regression_lines(result, args.strict):
        print(f"accelbench: {line}", file=sys.stderr)
    return result.exit_status(args.strict)


def _with_pricing(cases, args):
    """Check --instance/--usd-per-hour/--prices before any case runs and hand
    them to every case; without them, cases keep what a stored plan had."""
    from dataclasses import replace

    from accelbench.harness.preflight import resolve_pricing

    if (args.instance is None and args.usd_per_hour is None and args.prices is None and args.chips_per_instance is None
            and args.tier is None):
        # a stored plan: every case's own pricing, checked before the first case runs
        for pricing in {(c.instance, c.usd_per_hour, c.prices_file, c.chips_per_instance, c.tier) for c in cases}:
            resolve_pricing(*pricing[:4], tier=pricing[4])
        return cases
    resolve_pricing(args.instance, args.usd_per_hour, args.prices, args.chips_per_instance, tier=args.tier)
    prices_file = str(Path(args.prices).resolve()) if args.prices else None
    return [replace(c, instance=args.instance, usd_per_hour=args.usd_per_hour, prices_file=prices_file,
                    chips_per_instance=args.chips_per_instance, tier=args.tier) for c in cases]


def cmd_suites(args) -> int:
    import dataclasses

    from accelbench.harness import plan

    suites = [plan.load_suite(name) for name in plan.builtin_suites()]
    if args.json:
        print(json.dumps([dataclasses.asdict(s) for s in suites], indent=2))
        return 0
    for s in suites:
        print(f"{s.name:<8} {s.description}")
        print(f"{'':<8} kernels: {', '.join(s.kernels)}; backends: {', '.join(s.backends)}")
        if s.name.startswith("whole-"):  # the flagship comparison: same workload on every instance, or why not
            print(f"{'':<8} flagship: {s.differs or 'as on every whole-instance suite (llama:8b, T=4096, 32,768 tokens per step)'}")
    return 0


def cmd_prices(args) -> int:
    from accelbench.harness import price_list

    print(price_list.describe(args.prices, as_json=args.json))
    return 0


def _version() -> str:
    import accelbench

    return accelbench.__version__


COMMANDS = {"prices": cmd_prices, "suites": cmd_suites, "backends": cmd_backends, "kernels": cmd_kernels, "env": cmd_env, "run": cmd_run, "report": cmd_report,
            "compare": cmd_compare}


def main(argv: list[str] | None = None) -> int:
    try:
        SetAction.argv = list(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(argv)
        if not args.command:
            raise UsageError(f"a command is required; accepted: {', '.join(COMMANDS)}")
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # here, so a closed pipe is caught below and not at interpreter exit
        return code
    except BrokenPipeError:  # `accelbench backends --json | head -1`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the final flush at exit has nowhere to fail
        return 0
    except KeyboardInterrupt:
        print("accelbench: interrupted; finished records are intact", file=sys.stderr)
        return 130
    except Exception as exc:
        from accelbench.reports.load import NothingFound  # imported here, like _bad_input_errors

        if isinstance(exc, NothingFound):  # report or compare of folders without a record
            print(f"accelbench: error: {exc}", file=sys.stderr)
            return EXIT_MISSING
        if not isinstance(exc, _bad_input_errors()):
            raise
        one_line = str(exc).replace("\r", "\\r").replace("\n", "\\n")
        print(f"accelbench: error: {one_line}", file=sys.stderr)
        return EXIT_USAGE


def _bad_input_errors() -> tuple[type[Exception], ...]:
    """The exceptions that mean bad input; imported only once one is raised, so that
    ``--help`` and ``--version`` import neither numpy nor the backends."""
    from accelbench.backends.base import BackendError
    from accelbench.facts.catalog import CatalogError
    from accelbench.harness.plan import PlanError
    from accelbench.harness.records import RecordError
    from accelbench.kernels.base import KernelError

    return UsageError, PlanError, KernelError, BackendError, RecordError, CatalogError


if __name__ == "__main__":
    sys.exit(main())
