"""The ``accelbench`` command line.

Bad input of any kind ends with one line, ``accelbench: error: …``, naming
what was wrong and what is accepted, and exit status 2; nothing already
written is touched.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

EXIT_USAGE = 2


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2, no usage dump
        raise UsageError(message)


def build_parser() -> Parser:
    p = Parser(prog="accelbench", description="What a training token costs, on every accelerator.")
    sub = p.add_subparsers(dest="command", parser_class=Parser)

    b = sub.add_parser("backends", help="every registered backend, available or not, and why")
    b.add_argument("--json", action="store_true")
    k = sub.add_parser("kernels", help="kernels, presets and lowerings")
    k.add_argument("--json", action="store_true")
    e = sub.add_parser("env", help="what this machine has")
    e.add_argument("--json", action="store_true")

    r = sub.add_parser("run", help="run a suite or kernels on backends and write result records")
    r.add_argument("--suite", help="built-in suite name or path to a suite .toml (default: smoke)")
    r.add_argument("--kernel", action="append", default=[], metavar="K[:PRESET]")
    r.add_argument("--backend", action="append", default=[], metavar="B")
    r.add_argument("--set", action="append", default=[], dest="set_items", metavar="KEY=VALUE")
    r.add_argument("--steps", type=int)
    r.add_argument("--warmup", type=int)
    r.add_argument("--repeats", type=int)
    r.add_argument("--timeout", type=float, metavar="SECONDS", help="wall-clock limit per case")
    r.add_argument("--out", default="results", help="results folder (default: results)")
    r.add_argument("--report", help="Markdown report file (default: OUT/report.md)")
    r.add_argument("--resume", action="store_true", help="skip cases that already have an ok record in OUT")

    rep = sub.add_parser("report", help="write a report from results folders")
    rep.add_argument("dirs", nargs="+", metavar="DIR")
    rep.add_argument("--md", help="Markdown file (default: print to stdout)")
    return p


def cmd_backends(args) -> int:
    import backends

    rows = []
    for name in backends.names():
        cls = backends.get_class(name)
        avail = backends.availability(name)
        rows.append({"name": name, "framework": getattr(cls, "framework", "?"), "available": avail.ok,
                     "reason": avail.reason, "fence": getattr(cls, "fence_description", "")})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        width = max(len(r["name"]) for r in rows)
        for r in rows:
            state = "available" if r["available"] else f"unavailable: {r['reason']}"
            print(f"{r['name']:<{width}}  {r['framework']:<5}  {state}")
    return 0


def cmd_kernels(args) -> int:
    import kernels

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
    return 0


def cmd_env(args) -> int:
    from harness import envinfo

    env = envinfo.capture()
    if args.json:
        print(json.dumps(env, indent=2))
    else:
        for key, value in env.items():
            print(f"{key:<14} {value}")
    return 0


def cmd_run(args) -> int:
    from harness import plan, runner

    cases = plan.build_plan(args.suite, args.kernel, args.backend, args.set_items,
                            args.steps, args.warmup, args.repeats, args.timeout)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")

    def progress(i, n, item, phase):
        if phase == "start":
            print(f"[{i}/{n}] {item.label} ...", file=sys.stderr, flush=True)
        else:
            print(f"[{i}/{n}] {item.case.label}: {_describe(item)}", file=sys.stderr, flush=True)

    summary = runner.run_plan(cases, out, resume=args.resume, on_case=progress)
    report_path = Path(args.report) if args.report else out / "report.md"
    _write_report([out], report_path)
    counts = {s: sum(o.status == s for o in summary.outcomes) for s in ("ok", "failed", "skipped", "unavailable")}
    print(f"{len(summary.outcomes)} cases: " + ", ".join(f"{v} {k}" for k, v in counts.items() if v)
          + f"; records in {out}/, report {report_path}", file=sys.stderr)
    return min(summary.failed, 125)


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


def _write_report(dirs, md_path: Path | None) -> str:
    from reports import load, render

    loaded = load.load_folders(dirs)
    for warning in loaded.warnings:
        print(f"accelbench: warning: {warning}", file=sys.stderr)
    text = render.markdown(loaded.frame())
    if md_path is not None:
        from harness.records import write_text_atomic

        write_text_atomic(md_path, text)
    return text


def cmd_report(args) -> int:
    text = _write_report(args.dirs, Path(args.md) if args.md else None)
    if not args.md:
        print(text)
    return 0


COMMANDS = {"backends": cmd_backends, "kernels": cmd_kernels, "env": cmd_env, "run": cmd_run, "report": cmd_report}


def main(argv: list[str] | None = None) -> int:
    from backends.base import BackendError
    from harness.plan import PlanError
    from harness.records import RecordError
    from kernels.base import KernelError

    try:
        args = build_parser().parse_args(argv)
        if not args.command:
            raise UsageError(f"a command is required; accepted: {', '.join(COMMANDS)}")
        return COMMANDS[args.command](args)
    except (UsageError, PlanError, KernelError, BackendError, RecordError) as exc:
        print(f"accelbench: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("accelbench: interrupted; finished records are intact", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
