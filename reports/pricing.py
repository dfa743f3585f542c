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
from accelbench.facts.catalog import CatalogError, InstancePrice, load_prices
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
        **cost.provenance(backend.get("info")),
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


def split_folders(dirs: list[str]) -> tuple[list[str], dict[str, str]]:
    """``report A=p5.48xlarge B`` -> (["A", "B"], {"A": "p5.48xlarge"}): a folder may name the instance its
    records are priced as. A path that exists as given (even with '=' in it) is a folder."""
    from pathlib import Path

    plain, named = [], {}
    for item in dirs:
        folder, sep, instance = item.rpartition("=")
        if sep and folder and instance and not Path(item).exists():
            plain.append(folder)
            named[folder] = instance
        else:
            plain.append(item)
    return plain, named


def record_instance(record: dict[str, Any]) -> str:
    """What a record was measured or priced on, for telling records of several instances apart: the
    instance it was priced as, else the EC2 instance type its host reported, else its accelerator, else
    its host's name (torch-cpu and jax-cpu records of one host are one machine)."""
    old = record.get("cost") or {}
    if old.get("instance"):
        return str(old["instance"])
    backend = record.get("backend") or {}
    host = (backend.get("info") or {}).get("host") or {}
    host_type = host.get("instance_type") or (host.get("chips") or {}).get("instance_type")  # facts/host.py; older records
    if host_type:
        return str(host_type)
    if backend.get("device_catalog_key"):
        return f"device {backend['device_catalog_key']}"
    host = (record.get("env") or {}).get("host")
    return f"host {host}" if host else f"device {backend.get('device_kind') or 'unknown'}"


def from_args(instance: str | None, usd_per_hour: float | None, chips_per_instance: int | None,
              prices_file: str | None, tier: str | None = None,
              per_folder: dict[str, str] | None = None) -> Callable[[Any], None] | None:
    """Check the report's pricing options (CatalogError, exit 2, before anything
    is written) and return what re-prices a ``reports.load.Loaded`` in place, or
    None when no price was given. ``per_folder`` (``DIR=INSTANCE``) prices each
    named folder as its own instance (at ``tier`` where it has it); one price
    for the rest is refused when their records come from several instances."""
    from accelbench.harness.preflight import resolve_pricing

    per_folder = per_folder or {}
    if per_folder and chips_per_instance is not None:
        raise CatalogError("--chips-per-instance applies to one price; with DIR=INSTANCE each folder's "
                                "instance gives its own chips (drop --chips-per-instance)")
    global_tier = tier if (instance is not None or usd_per_hour is not None or not per_folder) else None  # else: folders'
    choice = resolve_pricing(instance, usd_per_hour, prices_file, chips_per_instance, given_by=GIVEN_BY, tier=global_tier)
    folder_choices = {folder: resolve_pricing(name, None, prices_file, None, given_by=GIVEN_BY, tier=tier)
                      for folder, name in per_folder.items()}
    if choice is None and not folder_choices:
        return None
    prices = load_prices(prices_file)
    flag = (f"--instance {instance}" if instance else f"--usd-per-hour {usd_per_hour:g}") if choice else ""

    def apply(loaded) -> None:
        measured = [r for r in loaded.records if isinstance(r.get("kernel"), dict) and not r.get("_published")]
        unnamed = [r for r in measured if r.get("_folder") not in folder_choices]
        if choice is not None:
            seen: dict[str, set[str]] = {}
            for r in unnamed:
                seen.setdefault(record_instance(r), set()).add(str(r.get("_folder")))
            if len(seen) > 1:
                listed = "; ".join(f"{name} ({', '.join(sorted(folders))})" for name, folders in sorted(seen.items()))
                raise CatalogError(f"{flag} would price records from several instances alike: {listed}; price "
                                        "each folder as its own with `accelbench report DIR=INSTANCE ...`")
        for record in measured:
            chosen = folder_choices.get(record.get("_folder"), choice)
            if chosen is not None:
                part = reprice(record, chosen, prices)
                if part is not None:
                    record["cost"] = part

    return apply
