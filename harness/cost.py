"""Dollars per million tokens, with the interval the timing supports, and
marks on every price a reader should doubt.

    $/1M tokens = usd_per_hour ÷ (tokens/s × 3600) × 1e6
    usd_per_hour = instance_usd_per_hour × chips_priced ÷ chips_per_instance

* A price is always the price of a WHOLE instance (``usd_per_hour_basis`` =
  "whole-instance"): ``--instance NAME`` takes it from the price list,
  ``--usd-per-hour X`` from the user. The run is charged the share of it that
  the chips it measured are (``chips_priced``, from ``metrics.chips_used``:
  one logical NeuronCore of a trn2 chip at LNC=2 is 1/4 chip).
* ``chips_per_instance``: ``--chips-per-instance N`` when given; else the
  price list's count for ``--instance``; for ``--usd-per-hour``, the price
  list's count for the instance type this host reports (EC2), else what the
  host's tools count (nvidia-smi GPUs, neuron-ls devices, TPU PCI chips);
  a CPU host with none is charged as the whole instance (1 of 1).
  ``chips_per_instance_source`` says which.
* tokens/s = tokens_per_step ÷ median step time; the bootstrap 95% interval
  of the median step time maps to ``usd_per_mtok_ci95`` (cost ∝ step time).
* ``marks``: "what-if" (measured on a device other than the instance's, e.g.
  this CPU priced as H100s), "unconfirmed" (the price list entry was not read
  on the provider's page), "stale" (the price's ``as_of`` is more than 180
  days before the run), "other-region" (the run's region, from AWS_REGION,
  AWS_DEFAULT_REGION or SkyPilot's SKYPILOT_CLUSTER_INFO, differs from the
  price's; unknown regions are not marked). ``price_source`` says which price
  and where it came from. reports/pricing.py applies the same function to
  saved records (``accelbench report --instance``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from accelbench.facts.catalog import CatalogError, InstancePrice, load_prices

FORMULA = "usd_per_hour / (tokens_per_step / step_s * 3600) * 1e6"
BASIS = "whole-instance"
STALE_AFTER_DAYS = 180
WHAT_IF, UNCONFIRMED, STALE, OTHER_REGION = "what-if", "unconfirmed", "stale", "other-region"
MARK_MEANING = {
    WHAT_IF: "the price of another device than the one that ran: a what-if, not a measured cost",
    UNCONFIRMED: "a price not confirmed on the provider's own page",
    STALE: "a price older than the catalog's freshness limit",
    OTHER_REGION: "a price from another region than the one asked for",
}
"""What each of ``cost.marks`` tells a reader (the report's methodology lists it beside a marked price)."""
MARKS = tuple(MARK_MEANING)


@dataclass(frozen=True)
class PriceChoice:
    """What a run is priced against: a price-list instance, or a user's whole-instance hourly price."""

    instance: InstancePrice | None = None
    usd_per_hour: float | None = None
    chips_per_instance: int | None = None
    """--chips-per-instance: chips of the priced instance, when discovery cannot tell (or is to be overridden)."""
    given_by: str = "accelbench run"


def resolve(instance: str | None, usd_per_hour: float | None, prices_file: str | None,
            chips_per_instance: int | None = None, given_by: str = "accelbench run") -> PriceChoice | None:
    """Validate the pricing options before anything runs; CatalogError names
    what was wrong and what is accepted. None when nothing is to be priced."""
    if instance is not None and usd_per_hour is not None:
        raise CatalogError("--instance and --usd-per-hour cannot be used together; give one")
    if chips_per_instance is not None:
        if isinstance(chips_per_instance, bool) or not isinstance(chips_per_instance, int) or chips_per_instance < 1:
            raise CatalogError(f"--chips-per-instance must be a positive whole number of chips, got {chips_per_instance}")
        if instance is None and usd_per_hour is None:
            raise CatalogError("--chips-per-instance needs a price: give --usd-per-hour X (the whole instance) "
                               "or --instance NAME")
    if usd_per_hour is not None:
        if not (isinstance(usd_per_hour, (int, float)) and math.isfinite(usd_per_hour) and usd_per_hour > 0):
            raise CatalogError(f"--usd-per-hour must be a positive number of US dollars (the whole instance's "
                               f"price per hour), got {usd_per_hour}")
        if prices_file is not None:
            load_prices(prices_file)  # still checked, so a bad file is never silently ignored
        return PriceChoice(usd_per_hour=float(usd_per_hour), chips_per_instance=chips_per_instance, given_by=given_by)
    if instance is None:
        if prices_file is not None:
            load_prices(prices_file)
        return None
    prices = load_prices(prices_file)
    if instance not in prices:
        raise CatalogError(f"unknown instance '{instance}'; accepted: {', '.join(sorted(prices))}"
                           + ("" if prices_file else " (or add it with --prices FILE)"))
    price = prices[instance]
    if price.usd_per_hour is None:
        raise CatalogError(f"instance '{instance}' has no known price ({price.note or 'none published'}); "
                           "give one with --usd-per-hour X or a --prices FILE entry")
    return PriceChoice(instance=price, chips_per_instance=chips_per_instance, given_by=given_by)


# ------------------------------------------------------------------ where the run ran
def run_region(env: Mapping[str, str]) -> tuple[str | None, str]:
    """The cloud region the run ran in, and where that was read; None when unknown."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        if env.get(name, "").strip():
            return env[name].strip(), name
    info = env.get("SKYPILOT_CLUSTER_INFO", "")
    if info:  # SkyPilot exports the cluster's cloud, region and zone as JSON
        try:
            region = json.loads(info).get("region")
        except (ValueError, AttributeError):
            region = None
        if isinstance(region, str) and region.strip():
            return region.strip(), "SKYPILOT_CLUSTER_INFO"
    return None, "not known (no AWS_REGION, AWS_DEFAULT_REGION or SKYPILOT_CLUSTER_INFO)"


def host_facts(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What a price needs from the host, kept in ``backend.info.host`` of every
    record so that saved results can be priced later: its chips and region."""
    from accelbench.backends import discovery

    region, region_source = run_region(os.environ if env is None else env)
    return {"chips": discovery.host_chips().to_dict(), "region": region, "region_source": region_source}


@dataclass(frozen=True)
class RunFacts:
    """What pricing needs from a record."""

    chips: float
    """Physical chips measured (``metrics.chips_used``)."""
    device_catalog_key: str | None
    device_kind: str | None
    run_date: dt.date
    host: dict[str, Any] = field(default_factory=dict)
    """``backend.info.host`` (``host_facts``); empty for records written before it."""


def chips_per_instance(choice: PriceChoice, facts: RunFacts, prices: dict[str, InstancePrice] | None) -> tuple[float, str]:
    if choice.chips_per_instance is not None:
        return choice.chips_per_instance, "--chips-per-instance"
    if choice.instance is not None:
        p = choice.instance
        return p.accelerators, f"price list: {p.name} has {p.accelerators} x {p.accelerator}"
    host_chips = facts.host.get("chips") or {}
    instance_type = host_chips.get("instance_type")
    if instance_type and prices and instance_type in prices:
        p = prices[instance_type]
        return p.accelerators, f"this host is a {instance_type}: {p.accelerators} x {p.accelerator} (price list)"
    if host_chips.get("count"):
        return host_chips["count"], str(host_chips.get("source") or "host discovery")
    if facts.device_catalog_key is None:
        return 1, "no accelerator: this CPU host is charged as the whole instance (1 of 1)"
    return facts.chips, ("the host's chip count is unknown: the price was taken to cover the chips measured only "
                         "(give --chips-per-instance N)")


def marks_for(choice: PriceChoice, facts: RunFacts, chips_source: str) -> list[str]:
    marks = []
    price = choice.instance
    if price is not None:
        if facts.device_catalog_key != price.accelerator:
            marks.append(WHAT_IF)
        if not price.confirmed:
            marks.append(UNCONFIRMED)
        if (facts.run_date - price.as_of).days > STALE_AFTER_DAYS:
            marks.append(STALE)
        region = facts.host.get("region")
        if region and price.region not in ("unknown", "") and region != price.region:
            marks.append(OTHER_REGION)
    elif facts.device_catalog_key is None and chips_source == "--chips-per-instance":
        marks.append(WHAT_IF)  # this CPU priced as one chip of an accelerator instance
    return marks


def price_source(choice: PriceChoice) -> str:
    price = choice.instance
    if price is None:
        return f"--usd-per-hour {choice.usd_per_hour:g} given to `{choice.given_by}` (the whole instance's price)"
    where = "built-in price list (facts/data/prices.toml)" if price.origin == "built-in" else price.origin
    return (f"{price.name} from the {where}: {price.provider} {price.region} {price.kind} ${price.usd_per_hour:g}/h "
            f"for {price.accelerators} x {price.accelerator}, as of {price.as_of}; source: {price.source}")


@dataclass
class CostPart:
    """The record's ``cost`` part. Every figure can be redone from the others."""

    instance: str | None
    usd_per_hour: float
    """Charged: instance_usd_per_hour × chips_priced ÷ chips_per_instance."""
    chips_priced: float
    usd_per_mtok: float | None
    usd_per_mtok_ci95: list[float] | None
    source: str
    as_of: str
    instance_usd_per_hour: float
    chips_per_instance: float
    chips_per_instance_source: str
    usd_per_hour_basis: str = BASIS
    price_source: str = ""
    marks: list[str] = field(default_factory=list)
    formula: str = FORMULA
    provider: str | None = None
    region: str | None = None
    run_region: str | None = None
    pricing_kind: str | None = None
    accelerator: str | None = None
    usd_per_chip_hour: float | None = None
    scaled_from_chips: float | None = None
    """Chips the run measured, when fewer (or more) than one whole instance; None when whole."""
    scale_factor: float | None = None
    """chips_priced ÷ chips_per_instance: the share of the instance price charged."""
    device_matches: bool | None = None
    confirmed: bool | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def usd_per_mtok(usd_per_hour: float, tokens_per_step: float, step_s: float) -> float:
    """$/1M tokens for one step time: usd_per_hour ÷ (tokens/s × 3600 s/h) × 1e6."""
    tokens_per_s = tokens_per_step / step_s
    return usd_per_hour / (tokens_per_s * 3600.0) * 1e6


def price_run(choice: PriceChoice, tokens_per_step: int | None, step_median_s: float,
              step_ci95: tuple[float, float] | list[float] | None, facts: RunFacts,
              prices: dict[str, InstancePrice] | None = None) -> CostPart:
    """The one pricing formula, for a run (``for_case``) and for a saved record (reports/pricing.py)."""
    chips = facts.chips if facts.chips and facts.chips > 0 else 1.0
    per_instance, per_instance_source = chips_per_instance(choice, facts, prices)
    price = choice.instance
    whole_usd = price.usd_per_hour if price is not None else float(choice.usd_per_hour)
    factor = chips / per_instance
    part = CostPart(
        instance=price.name if price else None, usd_per_hour=whole_usd * factor, chips_priced=chips,
        usd_per_mtok=None, usd_per_mtok_ci95=None,
        source=price.source if price else f"--usd-per-hour (given to `{choice.given_by}`)",
        as_of=price.as_of.isoformat() if price else facts.run_date.isoformat(),
        instance_usd_per_hour=whole_usd, chips_per_instance=per_instance,
        chips_per_instance_source=per_instance_source, price_source=price_source(choice),
        marks=marks_for(choice, facts, per_instance_source), run_region=facts.host.get("region"),
        usd_per_chip_hour=whole_usd / per_instance, scale_factor=factor,
        scaled_from_chips=None if math.isclose(chips, per_instance) else chips,
    )
    notes = [f"charged ${whole_usd:g}/h (whole instance) x {chips:g} chips measured / {per_instance:g} chips per "
             f"instance ({per_instance_source}) = ${part.usd_per_hour:.6g}/h"]
    if price is not None:
        part.provider, part.region, part.pricing_kind = price.provider, price.region, price.kind
        part.accelerator, part.confirmed = price.accelerator, price.confirmed
        part.device_matches = facts.device_catalog_key == price.accelerator
        if not part.device_matches:
            notes.append(f"measured on {facts.device_kind or facts.device_catalog_key or 'an unknown device'}, priced "
                         f"as {price.accelerator} chips of {price.name}: a what-if figure, not a measurement of that instance")
        if not price.confirmed:
            notes.append(f"the {price.name} price is not confirmed on the provider's page ({price.note})".rstrip())
    elif WHAT_IF in part.marks:
        notes.append(f"measured on {facts.device_kind or 'this CPU'} (no accelerator), charged as {chips:g} of "
                     f"{per_instance:g} chips of the priced instance: a what-if figure")
    if part.scaled_from_chips is not None:
        notes.append(f"scaled: the run measured {chips:g} of the {per_instance:g} chips of the instance, assuming "
                     "the other chips would run as fast")
    if not tokens_per_step:
        notes.append("no $/1M tokens: the kernel processes no tokens")
    else:
        part.usd_per_mtok = usd_per_mtok(part.usd_per_hour, tokens_per_step, step_median_s)
        if step_ci95 is not None:
            lo, hi = step_ci95
            part.usd_per_mtok_ci95 = [usd_per_mtok(part.usd_per_hour, tokens_per_step, lo),
                                      usd_per_mtok(part.usd_per_hour, tokens_per_step, hi)]
    part.notes = notes
    return part


def run_date(created_at: str | None) -> dt.date:
    try:
        return dt.datetime.fromisoformat(str(created_at)).date()
    except ValueError:
        return dt.date.today()


def for_case(case, record) -> dict[str, Any] | None:
    """The ``cost`` part for a measured case, or None when the run is not priced."""
    from accelbench.harness.metrics import chips_used

    choice = resolve(getattr(case, "instance", None), getattr(case, "usd_per_hour", None),
                     getattr(case, "prices_file", None), getattr(case, "chips_per_instance", None))
    if choice is None or not record.timing.step_s:
        return None
    step = record.timing.step_s
    facts = RunFacts(chips_used(record.backend), record.backend.device_catalog_key, record.backend.device_kind,
                     run_date(record.created_at), (record.backend.info or {}).get("host") or host_facts())
    return price_run(choice, record.kernel.tokens_per_step, step["median"], step.get("ci95"), facts,
                     load_prices(getattr(case, "prices_file", None))).to_dict()


def closing_marks(records: list[dict | None]) -> str:
    """The pricing part of `accelbench run`'s closing line: what was charged
    and the marks of those prices ('' when nothing was priced)."""
    costs = [r.get("cost") for r in records if isinstance(r, dict) and isinstance(r.get("cost"), dict)]
    if not costs:
        return ""
    charged = sorted({round(c.get("usd_per_hour") or 0.0, 6) for c in costs})
    shown = ", ".join(f"${v:g}/h" for v in charged[:3]) + (", ..." if len(charged) > 3 else "")
    marks = [m for m in MARKS if any(m in (c.get("marks") or []) for c in costs)]
    return (f"; charged {shown} of a whole-instance price"
            + (f"; prices marked: {', '.join(marks)} (cost.marks)" if marks else "; prices unmarked"))
