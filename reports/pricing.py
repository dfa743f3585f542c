"""Pricing saved results at report time, so a forgotten or changed price costs
no second rental:

    accelbench report DIR --instance NAME | --usd-per-hour X [--chips-per-instance N] [--prices FILE]

``reprice(record, choice)`` is a pure function of a saved record (its median
step time and 95% interval, tokens per step, chips measured, device, date and
the host facts it kept in ``backend.info.host``) that returns the ``cost``
dict ``harness/cost.py`` would have written with that price: the same
formula, in one place (``cost.price_run``). A re-priced record keeps the
cost it was run with under ``cost.replaced`` and says so in ``cost.notes``.
"""

from __future__ import annotations

from typing import Any, Callable

from accelbench.harness import cost
from accelbench.facts.catalog import InstancePrice, load_prices
from accelbench.harness.metrics import chips_used

GIVEN_BY = "accelbench report"


def reprice(record: dict[str, Any], choice: cost.PriceChoice,
            prices: dict[str, InstancePrice] | None = None) -> dict[str, Any] | None:
    """The ``cost`` dict for ``record`` at ``choice``; None for a record with
    no timed steps (failed, skipped, unavailable before timing)."""
    step = (record.get("timing") or {}).get("step_s") or {}
    if not step.get("median"):
        return None
    backend = record.get("backend") or {}
    facts = cost.RunFacts(
        chips=chips_used(backend),
        device_catalog_key=backend.get("device_catalog_key"),
        device_kind=backend.get("device_kind"),
        run_date=cost.run_date(record.get("created_at")),
        host=(backend.get("info") or {}).get("host") or {},
    )
    tokens = (record.get("kernel") or {}).get("tokens_per_step")
    part = cost.price_run(choice, tokens, step["median"], step.get("ci95"), facts, prices).to_dict()
    if record.get("cost"):
        old = record["cost"]
        part["replaced"] = {k: old.get(k) for k in ("instance", "usd_per_hour", "usd_per_mtok", "price_source", "source")}
        part["notes"].append(f"re-priced at report time; the run's own price was "
                             f"{old.get('price_source') or old.get('instance') or old.get('source')}")
    elif not facts.host:
        part["notes"].append("the record predates backend.info.host: chips per instance and region from the price "
                             "options only")
    return part


def from_args(instance: str | None, usd_per_hour: float | None, chips_per_instance: int | None,
              prices_file: str | None) -> Callable[[Any], None] | None:
    """Check the report's pricing options (CatalogError, exit 2, before anything
    is read) and return what re-prices a ``reports.load.Loaded`` in place, or
    None when no price was given."""
    choice = cost.resolve(instance, usd_per_hour, prices_file, chips_per_instance, given_by=GIVEN_BY)
    if choice is None:
        return None
    prices = load_prices(prices_file)

    def apply(loaded) -> None:
        for record in loaded.records:
            if isinstance(record.get("kernel"), dict):
                part = reprice(record, choice, prices)
                if part is not None:
                    record["cost"] = part

    return apply
