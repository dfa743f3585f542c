"""Dollars per million tokens, with the interval the timing supports.

    $/1M tokens = usd_per_hour ÷ (tokens/s × 3600) × 1e6

* tokens/s = tokens_per_step ÷ median step time (the record's metrics).
* usd_per_hour is the price of what was measured:
  - with ``--usd-per-hour X``: X, taken as the price of the whole run;
  - with ``--instance NAME``: the price per chip-hour (instance price ÷
    accelerators per instance) × the chips the run used. When the run used
    every chip of the instance that is just the instance price; when it used
    fewer, the record says the figure is scaled (``scaled_from_chips`` = chips
    measured, ``chips_per_instance``): it assumes the rest of the instance
    would run as fast, which only a whole-instance run shows.
  Stated per chip or per instance, $/1M tokens is the same number under that
  linear scaling; the fields say which price was used.
* The bootstrap 95% interval of the median step time (``timing.step_s.ci95``)
  maps to an interval on $/1M tokens, since cost is proportional to step time:
  [usd_per_hour × lo ÷ (tokens_per_step × 3600) × 1e6, same with hi].

A run on a device other than the instance's (e.g. this CPU priced as one
H100 of a p5.48xlarge) is priced the same way and marked ``device_matches =
false``: a what-if figure for the pipeline, not a measurement of that
instance.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from accelbench.harness.catalog import CatalogError, InstancePrice, load_prices
from accelbench.harness.metrics import chips_measured

FORMULA = "usd_per_hour / (tokens_per_step / step_s * 3600) * 1e6"


@dataclass(frozen=True)
class PriceChoice:
    """What a run is priced against: a catalog instance, or a flat hourly price."""

    instance: InstancePrice | None = None
    usd_per_hour: float | None = None


def resolve(instance: str | None, usd_per_hour: float | None, prices_file: str | None) -> PriceChoice | None:
    """Validate the run options before any case runs; CatalogError names what
    was wrong and what is accepted. None when the run is not to be priced."""
    if instance is not None and usd_per_hour is not None:
        raise CatalogError("--instance and --usd-per-hour cannot be used together; give one")
    if usd_per_hour is not None:
        if not (isinstance(usd_per_hour, (int, float)) and math.isfinite(usd_per_hour) and usd_per_hour > 0):
            raise CatalogError(f"--usd-per-hour must be a positive number of US dollars, got {usd_per_hour}")
        if prices_file is not None:
            load_prices(prices_file)  # still checked, so a bad file is never silently ignored
        return PriceChoice(usd_per_hour=float(usd_per_hour))
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
    return PriceChoice(instance=price)


@dataclass
class CostPart:
    """The record's ``cost`` part. Every figure can be redone from the others."""

    instance: str | None
    usd_per_hour: float
    """Price of what was measured (see the module docstring)."""
    chips_priced: float
    usd_per_mtok: float | None
    usd_per_mtok_ci95: list[float] | None
    source: str
    as_of: str
    formula: str = FORMULA
    provider: str | None = None
    region: str | None = None
    pricing_kind: str | None = None
    accelerator: str | None = None
    chips_per_instance: int | None = None
    instance_usd_per_hour: float | None = None
    usd_per_chip_hour: float | None = None
    scaled_from_chips: int | None = None
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


def price_run(
    choice: PriceChoice,
    tokens_per_step: int | None,
    step_median_s: float,
    step_ci95: tuple[float, float] | list[float] | None,
    device_count: float,
    device_catalog_key: str | None,
    device_kind: str | None = None,
) -> CostPart:
    """``device_count``: the chips the run used (``metrics.chips_measured``; a
    fraction where one device is part of a chip, e.g. one NeuronCore)."""
    chips = device_count if device_count and device_count > 0 else 1
    notes: list[str] = []
    if choice.instance is None:
        part = CostPart(instance=None, usd_per_hour=float(choice.usd_per_hour), chips_priced=chips,
                        usd_per_mtok=None, usd_per_mtok_ci95=None, source="--usd-per-hour (given by the user)",
                        as_of=dt.date.today().isoformat())
    else:
        price = choice.instance
        per_chip = price.usd_per_hour / price.accelerators
        whole = chips == price.accelerators
        part = CostPart(
            instance=price.name, usd_per_hour=per_chip * chips, chips_priced=chips,
            usd_per_mtok=None, usd_per_mtok_ci95=None, source=price.source, as_of=price.as_of.isoformat(),
            provider=price.provider, region=price.region, pricing_kind=price.kind, accelerator=price.accelerator,
            chips_per_instance=price.accelerators, instance_usd_per_hour=price.usd_per_hour,
            usd_per_chip_hour=per_chip, scaled_from_chips=None if whole else chips,
            scale_factor=chips / price.accelerators, device_matches=device_catalog_key == price.accelerator,
            confirmed=price.confirmed,
        )
        if not whole:
            notes.append(f"scaled: the run measured {chips:g} of the {price.accelerators} chips of {price.name}; "
                         f"priced at {chips:g}/{price.accelerators} of ${price.usd_per_hour:g}/h, assuming the other "
                         "chips would run as fast")
        if not part.device_matches:
            notes.append(f"measured on {device_kind or device_catalog_key or 'an unknown device'}, priced as "
                         f"{price.accelerator} chips of {price.name}: a what-if figure, not a measurement of that instance")
        if not price.confirmed:
            notes.append(f"the {price.name} price is not confirmed on the provider's page ({price.note})".rstrip())
        if price.origin != "built-in":
            notes.append(f"price from {price.origin}")
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


def for_case(case, record) -> dict[str, Any] | None:
    """The ``cost`` part for a measured case, or None when the run is not priced."""
    choice = resolve(getattr(case, "instance", None), getattr(case, "usd_per_hour", None),
                     getattr(case, "prices_file", None))
    if choice is None or not record.timing.step_s:
        return None
    step = record.timing.step_s
    return price_run(choice, record.kernel.tokens_per_step, step["median"], step.get("ci95"),
                     chips_measured(record.backend), record.backend.device_catalog_key,
                     record.backend.device_kind).to_dict()
