"""``accelbench run --dry-run``: what a sweep would do, before renting time
for it. Prints each case with its layout, sharding and per-device memory
estimate, the time the sweep may take and, with a price, what that time
costs. Writes nothing and imports no framework.

Time is not guessed from peak FLOP/s: a case's time is the wall time of an
earlier record of the same case in the results folder when there is one
(``wall_s``), else its wall-clock limit (``timeout_s``, compile included),
which bounds it from above. Cases that ``--resume`` would skip (an ``ok``
record already) take no time. The cost is the whole instance's price
(``--usd-per-hour``, or the ``--instance`` list price) × that time: a sweep
holds the instance for its whole length.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from accelbench.harness import cost, fit, sharding
from accelbench.harness.plan import Case
from accelbench.harness.records import RecordError, load_record


@dataclass(frozen=True)
class CaseEstimate:
    case: Case
    seconds: float
    basis: str
    """"earlier record", "time limit" or "done" (an ok record: --resume skips it)."""
    device_memory_gib: float | None


def estimate_case(case: Case, folder: Path, resume: bool) -> CaseEstimate:
    memory = sharding.case_device_memory(case)
    gib = None if memory is None else memory.total_bytes / fit.GIB
    path = folder / f"{case.case_id}.json"
    try:
        earlier = load_record(path) if path.exists() else None
    except RecordError:
        earlier = None
    if earlier is not None and resume and earlier.get("status") == "ok":
        return CaseEstimate(case, 0.0, "done", gib)
    if earlier is not None and isinstance(earlier.get("wall_s"), (int, float)):
        return CaseEstimate(case, min(float(earlier["wall_s"]), case.timeout_s), "earlier record", gib)
    return CaseEstimate(case, case.timeout_s, "time limit", gib)


def hourly_price(case: Case) -> tuple[float | None, str]:
    """The whole instance's price per hour and where it comes from."""
    choice = cost.resolve(case.instance, case.usd_per_hour, case.prices_file)
    if choice is None:
        return None, ""
    if choice.usd_per_hour is not None:
        return choice.usd_per_hour, "--usd-per-hour (the whole instance)"
    price = choice.instance
    if price is None or price.usd_per_hour is None:
        return None, f"{case.instance}: no price in the list"
    return price.usd_per_hour, f"{price.name} list price ({price.source}, {price.as_of})"


def describe(cases: list[Case], folder: Path, resume: bool) -> str:
    estimates = [estimate_case(c, folder, resume) for c in cases]
    from accelbench.suggest import plural

    lines = [f"dry run: {plural(len(cases), 'case')} into {folder}/ (nothing is run or written)"]
    for i, e in enumerate(estimates, 1):
        shard = sharding.shard_strategy(e.case)
        devices = e.case.layout.devices
        memory = "no memory estimate" if e.device_memory_gib is None else f"{e.device_memory_gib:.1f} GiB per device"
        layout = f"{devices} device(s), shard={shard}" if devices > 1 else "1 device"
        when = {"done": "done (ok record; --resume skips it)", "earlier record": f"{e.seconds / 60:.1f} min (earlier record)",
                "time limit": f"≤ {e.seconds / 60:.0f} min (time limit)"}[e.basis]
        lines.append(f"  [{i}/{len(cases)}] {e.case.label}: {layout}; {memory}; {when}")
    total = sum(e.seconds for e in estimates)
    bounded = sum(e.basis == "time limit" for e in estimates)
    known = sum(e.basis == "earlier record" for e in estimates)
    basis = f"{known} from earlier records, {bounded} at their time limit" + (" (an upper bound)" if bounded else "")
    lines.append(f"estimated time: {total / 3600:.2f} h ({basis})")
    price, source = hourly_price(cases[0]) if cases else (None, "")
    if price is not None:
        lines.append(f"estimated cost: ${price * total / 3600:,.2f} at ${price:,.2f}/h, {source}")
    elif source:
        lines.append(f"estimated cost: unknown ({source}); give --usd-per-hour")
    else:
        lines.append("estimated cost: give --instance NAME or --usd-per-hour X (the whole instance's price)")
    return "\n".join(lines)
