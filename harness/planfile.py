"""A results folder's plan file, ``DIR/plan.json``: the cases of the latest run
into that folder, written before the first case starts, so that
``accelbench run --resume DIR`` runs the same cases again (those without an
``ok`` record) after a crash, a Ctrl-C or a lost instance.

    {"schema": "accelbench.plan/1", "created_at": "...", "cases": [Case, ...]}

A plan file is read as untrusted input: every case is checked as strictly as
a command line (kernel, preset, backend, settings and their types), and a bad
file is one ``PlanError`` line naming the file and what is wrong.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from accelbench import backends
from accelbench import kernels
from accelbench.backends.base import BackendError
from accelbench.harness import history
from accelbench.harness.layout import LAYOUT_FIELDS, LAYOUT_TYPES
from accelbench.harness.plan import Case, PlanError, field_types, typed_problem
from accelbench.facts.schema import PLAN_FILE, PLAN_SCHEMA
from accelbench.harness.records import write_atomic
from accelbench.kernels.base import KernelError

CASE_FIELDS = {f.name: f for f in dataclasses.fields(Case)}
CASE_TYPES = typing.get_type_hints(Case)
REQUIRED_FIELDS = ("kernel", "preset", "backend")
AT_LEAST_ONE = frozenset({"steps", "repeats", "nproc", "nnodes"})
"""Integer fields of a case that count something done at least once; the other integers must be >= 0."""


def plan_path(folder: str | Path) -> Path:
    return Path(folder) / PLAN_FILE


def write_plan(folder: str | Path, cases: list[Case]) -> Path:
    data = {
        "schema": PLAN_SCHEMA,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cases": [case.to_dict() for case in cases],
    }
    return write_atomic(plan_path(folder), data)


def load_plan(folder: str | Path) -> list[Case]:
    """The cases stored in ``folder``'s plan file, each checked."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PlanError(f"--resume {folder}: no such results folder")
    path = plan_path(folder)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PlanError(
            f"--resume {folder}: no {PLAN_FILE} in it; accepted: a folder written by `accelbench run` "
            f"(or give the plan again with --kernel/--suite and --out {folder} --resume)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"{path}: cannot read ({exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"{path}: not valid JSON, perhaps truncated ({exc.msg} at line {exc.lineno})") from None
    except (ValueError, RecursionError) as exc:
        raise PlanError(f"{path}: not valid JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or data.get("schema") != PLAN_SCHEMA:
        raise PlanError(f"{path}: not an accelbench plan (no schema '{PLAN_SCHEMA}')")
    items = data.get("cases")
    if not isinstance(items, list) or not items:
        raise PlanError(f"{path}: 'cases' must be a non-empty list")
    cases = [_checked_case(path, i, item) for i, item in enumerate(items, 1)]
    seen: set[str] = set()
    for case in cases:
        if case.case_id in seen:
            raise PlanError(f"{path}: the case '{case.label}' appears twice")
        seen.add(case.case_id)
    return cases


def _checked_case(path: Path, index: int, item: Any) -> Case:
    where = f"{path}: case {index}"
    if not isinstance(item, dict):
        raise PlanError(f"{where}: expected an object with {', '.join(REQUIRED_FIELDS)}")
    unknown = sorted(set(item) - set(CASE_FIELDS) - set(LAYOUT_FIELDS))  # flat layout fields: plan files before Case.layout
    if unknown:
        raise PlanError(f"{where}: unknown field {unknown[0]!r}; accepted: {', '.join(CASE_FIELDS)}")
    for name in REQUIRED_FIELDS:
        if not isinstance(item.get(name), str):
            raise PlanError(f"{where}: field '{name}' missing or not a string")
    layout = item.get("layout", {})
    if not isinstance(layout, dict):
        raise PlanError(f"{where}: field 'layout' must be an object")
    unknown = sorted(set(layout) - set(LAYOUT_FIELDS))
    if unknown:
        raise PlanError(f"{where}: unknown layout field {unknown[0]!r}; accepted: {', '.join(LAYOUT_FIELDS)}")
    fields = [(n, v, LAYOUT_TYPES[n] if n in LAYOUT_FIELDS else CASE_TYPES[n]) for n, v in item.items() if n != "layout"]
    for name, value, kind in fields + [(n, v, LAYOUT_TYPES[n]) for n, v in layout.items()]:
        problem = _field_problem(name, value, kind)
        if problem:
            raise PlanError(f"{where}: field '{name}' {problem}")
    case = Case.from_dict(item)
    try:
        kernel = kernels.get(case.kernel)
        kernel.config(case.preset, case.kernel_settings)
        backend_cls = backends.get_class(case.backend)
        unknown = sorted(set(case.backend_settings) - set(field_types(backend_cls.settings_cls)))
        if unknown:
            raise PlanError(f"unknown setting {unknown[0]!r} for backend '{case.backend}'")
        declared = field_types(backend_cls.settings_cls)
        for key, value in case.backend_settings.items():  # "false" is truthy: booleans must be booleans
            if problem := typed_problem(value, declared[key]):
                raise PlanError(f"setting '{key}' of backend '{case.backend}' {problem}")
        backend_cls(backend_cls.settings_cls(**case.backend_settings))
    except (KernelError, BackendError, PlanError, TypeError) as exc:
        raise PlanError(f"{where}: {exc}") from None
    return case


def resolve_run(args) -> tuple[Path, list[Case]]:
    """The results folder and the cases of ``accelbench run``, from its
    arguments, checked before anything is written.

    ``--resume DIR`` names the folder (as ``--out DIR --resume`` does). Resuming
    without plan options (--suite, --kernel, --backend, --set, --steps,
    --warmup, --windows) runs the plan stored in the folder; with them, the
    plan they give. ``--timeout`` and ``--no-fit-check`` apply either way."""
    from accelbench.harness import plan

    resume_dir = args.resume if isinstance(args.resume, str) else None
    if resume_dir is not None and args.out is not None and Path(args.out) != Path(resume_dir):
        raise PlanError(f"--resume {resume_dir} and --out {args.out} name different folders; give one of them")
    out = Path(resume_dir or args.out or history.RESULTS_ROOT)  # the CLI always sets one; the root is a fallback
    if out.exists() and not out.is_dir():
        raise PlanError(f"{'--resume' if resume_dir else '--out'} {out}: exists and is not a folder")
    plan_given = bool(args.suite or args.kernel or args.backend or args.set_items) or any(
        v is not None for v in (args.steps, args.warmup, args.windows)
    )
    if args.resume and not plan_given:
        cases = load_plan(out)
        if args.timeout is not None:
            if not (math.isfinite(args.timeout) and args.timeout > 0):
                raise PlanError(f"--timeout must be a positive number of seconds, got {args.timeout}")
            cases = [dataclasses.replace(c, timeout_s=float(args.timeout)) for c in cases]
    else:
        cases = plan.build_plan(args.suite, args.kernel, args.backend, args.set_items,
                                args.steps, args.warmup, args.windows, args.timeout)
    if args.no_fit_check:
        cases = [dataclasses.replace(c, check_fit=False) for c in cases]
    return out, cases


def _field_problem(name: str, value: Any, kind) -> str | None:
    """What is wrong with one field of a stored case, by the type ``Case`` (or its ``Layout``) declares, or None."""
    options = [a for a in typing.get_args(kind) if a is not type(None)]
    if options and len(options) < len(typing.get_args(kind)):  # X | None
        if value is None:
            return None
        kind = options[0]
    origin = typing.get_origin(kind) or kind
    if origin is bool:
        return None if isinstance(value, bool) else "must be true or false"
    if origin is int:
        lowest = 1 if name in AT_LEAST_ONE else 0
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= lowest
        return None if ok else f"must be an integer >= {lowest}"
    if origin is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0
        return None if ok else "must be a positive number"
    if origin is str:
        return None if isinstance(value, str) else "must be a string"
    if origin is dict:
        return None if isinstance(value, dict) else "must be an object"
    return None
