"""The ``accelbench`` command line.

Bad input of any kind ends with one line, ``accelbench: error: …``, naming
what was wrong and what is accepted, and exit status 2; nothing already
written is touched.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from accelbench.facts.exitcodes import EXIT_MISSING, EXIT_USAGE
from accelbench.harness.cli_args import SetAction, UsageError
from accelbench.harness.cli_parser import build_parser
from accelbench.suggest import plural

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

        from accelbench.harness.suite_file import load_suite

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
                                     else args.threshold, pooled_old=pooled, recheck_dir=args.recheck)
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

    from accelbench.harness import suite_file

    suites = [suite_file.load_suite(name) for name in suite_file.builtin_suites()]
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
