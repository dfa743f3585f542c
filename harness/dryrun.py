"""``accelbench run --dry-run``: what a sweep would do, before renting time
for it. Prints each case with its layout, sharding, per-device memory and the
fit check ``run`` would apply (which cases it would skip), the time the sweep
may take and, with a price, what that time costs. Writes nothing and imports
no framework.

A case's time, best first: the wall time of an earlier record of the same
case (``wall_s``; in the results folder, else the newest in the run history
beside it); else physics (``harness/estimate.py``: FLOPs ÷ catalog peak x
chips x MFU, plus a compile guess, both labelled), bounded by the case's
wall-clock limit (``timeout_s``, compile included); else that limit, an upper
bound. Cases ``--resume`` would skip (an ``ok`` record already) and cases the
fit check would skip take no time. The cost is the whole instance's price
(``--usd-per-hour``, or the ``--instance`` list price at ``--tier``) x the
instances the layout's chips fill x that time: a sweep holds them for its
whole length.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from accelbench.harness import cost, estimate, fit, preflight, sharding
from accelbench.harness.plan import Case
from accelbench.harness.records import RecordError, load_record


@dataclass(frozen=True)
class CaseEstimate:
    case: Case
    seconds: float
    basis: str
    """"earlier record", "physics", "time limit", "done" (an ok record: --resume skips it) or "skipped" (fit)."""
    device_memory_gib: float | None
    detail: str = ""
    """How the time was reached (physics), or why the case would be skipped."""


def earlier_record(case: Case, folder: Path) -> dict | None:
    """The case's record in ``folder``, else the newest in the run-history folders beside it (a parent that
    holds ``latest``: results/)."""
    from accelbench.harness.history import LATEST

    candidates = [folder / f"{case.case_id}.json"]
    if (folder.parent / LATEST).exists():
        others = sorted((p / f"{case.case_id}.json" for p in folder.parent.iterdir() if p.is_dir() and not p.is_symlink() and p != folder),
                        key=lambda p: p.stat().st_mtime if p.exists() else 0, reverse=True)
        candidates += [p for p in others if p.exists()]
    for path in candidates:
        try:
            if path.exists():
                return {**load_record(path), "_path": str(path)}
        except RecordError:
            continue
    return None


def estimate_case(case: Case, folder: Path, resume: bool) -> CaseEstimate:
    memory = sharding.case_device_memory(case)
    gib = None if memory is None else memory.total_bytes / fit.GIB
    earlier = earlier_record(case, folder)
    here = earlier is not None and Path(earlier["_path"]).parent == folder
    if here and resume and earlier is not None and earlier.get("status") == "ok":
        return CaseEstimate(case, 0.0, "done", gib)
    skip = estimate.layout_fit_problem(case, None if memory is None else memory.total_bytes)
    if skip:
        return CaseEstimate(case, 0.0, "skipped", gib, skip)
    if earlier is not None and isinstance(earlier.get("wall_s"), (int, float)):
        return CaseEstimate(case, min(float(earlier["wall_s"]), case.timeout_s), "earlier record", gib,
                            earlier["_path"])
    compile_s = ((earlier or {}).get("timing") or {}).get("compile_s")
    found = estimate.physics(case, compile_s if isinstance(compile_s, (int, float)) else None)
    if isinstance(found, estimate.Physics):
        detail = (f"{found.steps} steps x {found.step_s:.3g} s at MFU {found.mfu:.1%} ({found.mfu_basis}) on "
                  f"{found.chips:g} {found.device} chips + compile {found.compile_s:.0f} s ({found.compile_basis})")
        if found.seconds < case.timeout_s:
            return CaseEstimate(case, found.seconds, "physics", gib, detail)
        return CaseEstimate(case, case.timeout_s, "time limit", gib, f"physics says more: {detail}")
    return CaseEstimate(case, case.timeout_s, "time limit", gib, found)


def hourly_price(case: Case) -> tuple[float | None, str, int]:
    """The whole instance's price per hour, where it comes from, and the chips one instance has (0: unknown)."""
    choice = preflight.resolve_pricing(case.instance, case.usd_per_hour, case.prices_file, case.chips_per_instance, tier=case.tier)
    if choice is None:
        return None, "", 0
    per_instance = choice.chips_per_instance or (choice.instance.accelerators if choice.instance else 0)
    if choice.usd_per_hour is not None:
        return choice.usd_per_hour, "--usd-per-hour (the whole instance)", per_instance
    price = choice.instance
    if price is None or price.usd_per_hour is None:
        return None, f"{case.instance}: no price in the list", per_instance
    return (price.usd_per_hour, f"{price.name} list price, {price.tier_name} ({price.source}, {price.as_of})",
            per_instance)


def instances_needed(cases: list[Case], per_instance: int) -> tuple[int, str]:
    """Whole instances the largest layout fills: its chips ÷ the instance's chips, rounded up."""
    device = estimate.device_of(cases[0]) if cases else None
    if not per_instance or device is None:
        nodes = max(c.layout.nnodes for c in cases) if cases else 1
        return nodes, f"{nodes} instance(s): one per node"
    chips = max(c.layout.devices for c in cases) * estimate.chip_share(device)
    count = max(1, math.ceil(chips / per_instance - 1e-9))
    return count, f"{count} instance(s) for {chips:g} {device} chips ({per_instance} per instance)"


def describe(cases: list[Case], folder: Path, resume: bool) -> str:
    estimates = [estimate_case(c, folder, resume) for c in cases]
    from accelbench.suggest import plural

    lines = [f"dry run: {plural(len(cases), 'case')} into {folder}/ (nothing is run or written)"]
    for i, e in enumerate(estimates, 1):
        shard = sharding.shard_strategy(e.case)
        devices = e.case.layout.devices
        memory = "no memory estimate" if e.device_memory_gib is None else f"{e.device_memory_gib:.1f} GiB per device"
        layout = f"{devices} device(s), shard={shard}" if devices > 1 else "1 device"
        when = {"done": "done (ok record; --resume skips it)", "skipped": f"would be SKIPPED: {e.detail}",
                "earlier record": f"{e.seconds / 60:.1f} min (earlier record {e.detail})",
                "physics": f"~{e.seconds / 60:.1f} min (estimate: {e.detail})",
                "time limit": f"≤ {e.seconds / 60:.0f} min (time limit{'; ' + e.detail if e.detail else ''})"}[e.basis]
        lines.append(f"  [{i}/{len(cases)}] {e.case.label}: {layout}; {memory}; {when}")
    total = sum(e.seconds for e in estimates)
    count = {b: sum(e.basis == b for e in estimates) for b in ("earlier record", "physics", "time limit", "skipped")}
    basis = (f"{count['earlier record']} from earlier records, {count['physics']} from physics, "
             f"{count['time limit']} at their time limit" + (" (an upper bound)" if count["time limit"] else "")
             + (f"; {count['skipped']} would be skipped by the fit check" if count["skipped"] else ""))
    lines.append(f"estimated time: {total / 3600:.2f} h ({basis})")
    if count["physics"]:
        lines.append(f"physics estimates use the catalog's dense peak and an MFU from the published references, "
                     f"else {estimate.ASSUMED_MFU:.0%} assumed; compile times are guesses unless measured")
    price, source, per_instance = hourly_price(cases[0]) if cases else (None, "", 0)
    if price is not None:
        count_instances, held = instances_needed(cases, per_instance)
        lines.append(f"estimated cost: ${price * count_instances * total / 3600:,.2f} at ${price:,.2f}/h x {held}, "
                     f"{source}")
    elif source:
        lines.append(f"estimated cost: unknown ({source}); give --usd-per-hour")
    else:
        lines.append("estimated cost: give --instance NAME or --usd-per-hour X (the whole instance's price)")
    return "\n".join(lines)
