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
  price list's count for ``--instance``; for ``--usd-per-hour``, the host's
  (``backend.info.host``, facts/host.py): its instance type, read from the
  EC2/GCE metadata service, looked up in the catalog; else the chips the
  host's tools see, assumed to be the whole instance (marked
  ``chips-assumed``); else unknown, and the run gets no $/1M tokens (the
  reason is in ``notes``). A CPU host with no accelerator is the whole
  instance (1 of 1). ``chips_per_instance_source`` says which.
* A chip share that is unknown (a Neuron device with no neuron-ls and no
  instance type) withholds $/1M tokens; an assumed one marks it
  ``share-assumed``; an assumed matmul precision marks it ``precision-assumed``.
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

The pricing flags are checked in harness/preflight.py (``resolve_pricing``),
the host is read in facts/host.py, and the closing line's price summary is
written by harness/progress.py (``closing_marks``): this module keeps the
formula and the record's ``cost`` part.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from accelbench.facts.catalog import InstancePrice, load_prices

FORMULA = "usd_per_hour / (tokens_per_step / step_s * 3600) * 1e6"
BASIS = "whole-instance"
STALE_AFTER_DAYS = 180
WHAT_IF, UNCONFIRMED, STALE, OTHER_REGION, DISPUTED = "what-if", "unconfirmed", "stale", "other-region", "disputed"
CHIPS_ASSUMED, SHARE_ASSUMED, PRECISION_ASSUMED = "chips-assumed", "share-assumed", "precision-assumed"
MARK_MEANING = {
    WHAT_IF: "the price of another device than the one that ran: a what-if, not a measured cost",
    UNCONFIRMED: "a price not confirmed on the provider's own page",
    STALE: "a price older than the catalog's freshness limit",
    OTHER_REGION: "a price from another region than the one asked for",
    CHIPS_ASSUMED: "chips per instance assumed (the instance type was not read): the devices the host saw "
                   "were taken to be the whole instance",
    SHARE_ASSUMED: "the share of a chip one device is was assumed (an LNC setting that was not 1 or 2)",
    PRECISION_ASSUMED: "the precision the matmuls ran in was assumed, not read from the compiler's settings",
    DISPUTED: "another public source gives a different figure for this price (prices.toml disputed_by)",
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


@dataclass(frozen=True)
class RunFacts:
    """What pricing needs from a record."""

    chips: float
    """Physical chips measured (``metrics.chips_used``)."""
    device_catalog_key: str | None
    device_kind: str | None
    run_date: dt.date
    host: dict[str, Any] = field(default_factory=dict)
    """``backend.info.host`` (facts/host.py ``identity``); empty for records written before it."""
    share_source: str = "read"
    """``backend.info.device.chip_share_source``: read, derived, assumed or unknown."""
    precision_assumed: bool = False


def chips_per_instance(choice: PriceChoice, facts: RunFacts,
                       prices: dict[str, InstancePrice] | None) -> tuple[float | None, str, str]:
    """Chips of the priced instance, the kind of source (given, looked-up, read, assumed, unknown) and how."""
    if choice.chips_per_instance is not None:
        return choice.chips_per_instance, "given", "--chips-per-instance"
    if choice.instance is not None:
        p = choice.instance
        return p.accelerators, "looked-up", f"price list: {p.name} has {p.accelerators} x {p.accelerator}"
    host = facts.host
    if "chips_per_instance_source" in host:  # facts/host.py identity
        source = host["chips_per_instance_source"]
        if source == "looked-up":
            return host["chips_per_instance"], source, f"this host: {host.get('chips_per_instance_reason')}"
        itype = host.get("instance_type")
        if itype and prices and itype in prices:  # a user's --prices file may name a type the catalog does not
            p = prices[itype]
            return p.accelerators, "looked-up", f"this host is a {itype}: {p.accelerators} x {p.accelerator} (price list)"
        if source == "assumed":  # the chips the host's tools saw, taken as the whole instance
            return host["chips_per_instance"], source, str(host.get("chips_per_instance_reason"))
        if facts.device_catalog_key is None and facts.share_source != "unknown":
            return 1, "read", "no accelerator: this CPU host is charged as the whole instance (1 of 1)"
        return None, "unknown", (f"chips per instance unknown ({host.get('chips_per_instance_reason')}); give "
                                 "--chips-per-instance N or --instance NAME")
    host_chips = host.get("chips") or {}  # records written before facts/host.py
    instance_type = host_chips.get("instance_type")
    if instance_type and prices and instance_type in prices:
        p = prices[instance_type]
        return p.accelerators, "looked-up", f"this host is a {instance_type}: {p.accelerators} x {p.accelerator} (price list)"
    if host_chips.get("count"):
        return host_chips["count"], "assumed", (f"{host_chips.get('source') or 'host discovery'}, assumed to be the "
                                                "whole instance")
    if facts.device_catalog_key is None:
        return 1, "read", "no accelerator: this CPU host is charged as the whole instance (1 of 1)"
    return None, "unknown", "the host's chip count is unknown; give --chips-per-instance N or --instance NAME"


def marks_for(choice: PriceChoice, facts: RunFacts, chips_source: str, chips_kind: str = "") -> list[str]:
    marks = []
    price = choice.instance
    if price is not None:
        if facts.device_catalog_key != price.accelerator:
            marks.append(WHAT_IF)
        if not price.confirmed:
            marks.append(UNCONFIRMED)
        if price.disputed_by:
            marks.append(DISPUTED)
        if (facts.run_date - price.as_of).days > STALE_AFTER_DAYS:
            marks.append(STALE)
        region = facts.host.get("region")
        if region and price.region not in ("unknown", "") and region != price.region:
            marks.append(OTHER_REGION)
    elif facts.device_catalog_key is None and chips_source == "--chips-per-instance":
        marks.append(WHAT_IF)  # this CPU priced as one chip of an accelerator instance
    if chips_kind == "assumed":
        marks.append(CHIPS_ASSUMED)
    if facts.share_source == "assumed":
        marks.append(SHARE_ASSUMED)
    if facts.precision_assumed:
        marks.append(PRECISION_ASSUMED)
    return marks


def price_source(choice: PriceChoice) -> str:
    price = choice.instance
    if price is None:
        return f"--usd-per-hour {choice.usd_per_hour:g} given to `{choice.given_by}` (the whole instance's price)"
    where = "built-in price list (facts/data/prices.toml)" if price.origin == "built-in" else price.origin
    return (f"{price.name} from the {where}: {price.provider} {price.region} {price.tier_name} ${price.usd_per_hour:g}/h "
            f"for {price.accelerators} x {price.accelerator}, as of {price.as_of}; source: {price.source}")


@dataclass
class CostPart:
    """The record's ``cost`` part. Every figure can be redone from the others."""

    instance: str | None
    usd_per_hour: float | None
    """Charged: instance_usd_per_hour × chips_priced ÷ chips_per_instance; None when withheld."""
    chips_priced: float
    usd_per_mtok: float | None
    usd_per_mtok_ci95: list[float] | None
    source: str
    as_of: str
    instance_usd_per_hour: float
    chips_per_instance: float | None
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
    chips_per_instance_kind: str = ""
    """given, looked-up, read, assumed or unknown (facts/host.py's sources)."""
    withheld: str | None = None
    """Why there is no charge and no $/1M tokens (an unknown fact), or None."""
    tier: str | None = None
    """How the priced instance is bought (on-demand, spot, capacity-block, ...: catalog.TIERS); None for --usd-per-hour."""

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
    per_instance, per_instance_kind, per_instance_source = chips_per_instance(choice, facts, prices)
    price = choice.instance
    whole_usd = price.usd_per_hour if price is not None else float(choice.usd_per_hour)
    withheld = None
    if facts.share_source == "unknown":
        withheld = "the share of a chip one device is is unknown (backend.info.device.chip_share_reason)"
    elif per_instance is None:
        withheld = per_instance_source
    factor = None if withheld else chips / per_instance
    part = CostPart(
        instance=price.name if price else None, usd_per_hour=None if withheld else whole_usd * factor,
        chips_priced=chips, usd_per_mtok=None, usd_per_mtok_ci95=None,
        source=price.source if price else f"--usd-per-hour (given to `{choice.given_by}`)",
        as_of=price.as_of.isoformat() if price else facts.run_date.isoformat(),
        instance_usd_per_hour=whole_usd, chips_per_instance=per_instance,
        chips_per_instance_source=per_instance_source, price_source=price_source(choice),
        marks=marks_for(choice, facts, per_instance_source, per_instance_kind), run_region=facts.host.get("region"),
        usd_per_chip_hour=whole_usd / per_instance if per_instance else None, scale_factor=factor,
        scaled_from_chips=None if withheld or math.isclose(chips, per_instance) else chips,
        chips_per_instance_kind=per_instance_kind, withheld=withheld,
    )
    if withheld:
        part.notes = [f"no charge and no $/1M tokens: {withheld}"]
        return part
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
        for alt in price.disputed_by:
            notes.append(f"disputed: {alt.source} gives ${alt.usd_per_hour:g}/h ({alt.as_of})")
    elif WHAT_IF in part.marks:
        notes.append(f"measured on {facts.device_kind or 'this CPU'} (no accelerator), charged as {chips:g} of "
                     f"{per_instance:g} chips of the priced instance: a what-if figure")
    if chips > per_instance and not math.isclose(chips, per_instance):  # a per-chip entry for a multi-chip run
        notes.append(f"the run used {chips:g} chips, more than the {per_instance:g} of the priced instance: charged "
                     f"as {chips / per_instance:g} instances' worth; price an instance that holds them (a TPU slice "
                     "such as tpu-v6e-8)")
    elif part.scaled_from_chips is not None:
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
    part.tier = price.tier_name if price is not None else None
    return part


def run_date(created_at: str | None) -> dt.date:
    try:
        return dt.datetime.fromisoformat(str(created_at)).date()
    except ValueError:
        return dt.date.today()


def provenance(info: dict[str, Any] | None) -> dict[str, Any]:
    """``RunFacts``'s share source and precision flag from ``backend.info`` (a record's or a live one)."""
    info = info or {}
    device = info.get("device") or {}
    precision = info.get("matmul_precision") or {}
    # backends/matmul_precision.py's plan says why its effective precision is assumed (None: known)
    assumed = isinstance(precision, dict) and bool(precision.get("assumed"))
    return {"share_source": str(device.get("chip_share_source") or "read"), "precision_assumed": assumed}


def for_case(choice: PriceChoice | None, record, prices_file: str | None = None) -> dict[str, Any] | None:
    """The ``cost`` part for a measured case priced by ``choice`` (harness/preflight.py's
    ``resolve_pricing`` of the case's flags, ``prices_file`` its --prices), or None when the run is not priced."""
    from accelbench.harness.metrics import chips_used

    if choice is None or not record.timing.step_s:
        return None
    step = record.timing.step_s
    info = record.backend.info or {}
    if not info.get("host"):
        from accelbench.backends.host_identity import host_identity

        info = {**info, "host": host_identity()}
    facts = RunFacts(chips_used(record.backend), record.backend.device_catalog_key, record.backend.device_kind,
                     run_date(record.created_at), info["host"], **provenance(info))
    return price_run(choice, record.kernel.tokens_per_step, step["median"], step.get("ci95"), facts,
                     load_prices(prices_file)).to_dict()
