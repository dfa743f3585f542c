"""``accelbench report --tiers all``: $/1M tokens of each case at every tier its instance is sold at
(on-demand, spot, capacity block, savings plans, ...), and the cheapest case per workload and tier.

A case's cost scales with the whole instance's hourly price (harness/cost.py), so at tier T:

    usd_per_mtok(T) = cost.usd_per_mtok x price(T) / cost.instance_usd_per_hour

for a record priced from the price list (``cost.instance``); records priced with ``--usd-per-hour`` or
not at all have no tiers.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelbench.facts.catalog import TIERS, InstancePrice, load_prices


@dataclass(frozen=True)
class TierCost:
    workload: str
    case: str
    instance: str
    usd_per_mtok: dict[str, float]
    """By tier name; only the tiers the instance has a price for."""
    marked: dict[str, bool]
    """By tier: the price is unconfirmed or disputed."""


def tier_costs(records: list[dict], prices: dict[str, InstancePrice] | None = None) -> list[TierCost]:
    from accelbench.reports.training_cost import case_label

    prices = load_prices() if prices is None else prices
    out = []
    for r in records:
        cost = r.get("cost") or {}
        name, mtok, whole = cost.get("instance"), cost.get("usd_per_mtok"), cost.get("instance_usd_per_hour")
        if r.get("status") != "ok" or r.get("_published") or name not in prices or not mtok or not whole:
            continue
        base = prices[prices[name].base] if prices[name].base else prices[name]
        sold = [base] + [prices[f"{base.name}-{t}"] for t in base.tiers]
        kernel = r.get("kernel") or {}
        out.append(TierCost(
            f"{kernel.get('name')}:{kernel.get('preset')}", case_label(r), base.name,
            {p.tier_name: mtok * p.usd_per_hour / whole for p in sold if p.usd_per_hour is not None},
            {p.tier_name: (not p.confirmed) or bool(p.disputed_by) for p in sold}))
    return out


def cheapest(costs: list[TierCost]) -> list[str]:
    """Per workload and tier: the case with the lowest $/1M tokens."""
    lines = []
    for workload in dict.fromkeys(c.workload for c in costs):
        here = [c for c in costs if c.workload == workload]
        for tier in TIERS:
            priced = [c for c in here if tier in c.usd_per_mtok]
            if priced:
                best = min(priced, key=lambda c: c.usd_per_mtok[tier])
                lines.append(f"{workload}, {tier}: cheapest is {best.case} at ${best.usd_per_mtok[tier]:.4g}/1M tokens"
                             + (f" (of {len(priced)} cases priced at {tier})" if len(priced) > 1 else
                                f" (the only case priced at {tier})"))
    return lines


def table(records: list[dict]):
    """The report's "Cost by price tier" table (a ``reports.tables.Table``), or None when no record is priced
    from the price list."""
    from accelbench.reports.tables import Table

    costs = tier_costs(records)
    if not costs:
        return None
    tiers = [t for t in TIERS if any(t in c.usd_per_mtok for c in costs)]
    rows = [[c.workload, c.case, c.instance] + [
        (f"{c.usd_per_mtok[t]:.4g}" + ("*" if c.marked.get(t) else "")) if t in c.usd_per_mtok else "-" for t in tiers]
        for c in costs]
    notes = ["$/1M tokens at each tier the case's instance is sold at (prices.toml tiers; `accelbench prices`); "
             "- = no price at that tier; * = a price not confirmed on the provider's page, or disputed."]
    return Table.of_sections(title="Cost by price tier ($/1M tokens)", headers=["workload", "case", "instance"] + tiers,
                 rows=rows, notes=notes + cheapest(costs), text_columns=(0, 1, 2))
