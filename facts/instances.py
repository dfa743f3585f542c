"""Instance type -> accelerator chips per instance: the catalog a host's
instance type (read from a cloud metadata service) is looked up in.

Two sources, one answer: ``facts/data/instances.toml`` (types the price list
does not carry) and the price list's own ``accelerators`` count
(``facts/data/prices.toml``); they must agree where both name a type
(tests/facts/test_host_identity.py checks it).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from accelbench.facts.catalog import CatalogError, load_prices, read_toml

INSTANCES_FILE = Path(__file__).resolve().parent / "data" / "instances.toml"
_FIELDS = {"accelerator", "chips", "source", "as_of", "confirmed", "note"}


@dataclass(frozen=True)
class InstanceType:
    name: str
    accelerator: str
    """Device catalog key (facts/data/devices.toml)."""
    chips: int
    source: str
    confirmed: bool = True


def _entry(path: Path, name: str, raw) -> InstanceType:
    where = f"{path}: [instance_types.\"{name}\"]"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: must be a table of fields")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise CatalogError(f"{where}: unknown field '{unknown[0]}'; accepted: {', '.join(sorted(_FIELDS))}")
    for key, kind in (("accelerator", str), ("chips", int), ("source", str), ("as_of", dt.date), ("confirmed", bool)):
        value = raw.get(key)
        if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
            raise CatalogError(f"{where}: field '{key}' must be a {kind.__name__}, got {value!r}")
    if raw["chips"] < 1:
        raise CatalogError(f"{where}: field 'chips' must be at least 1, got {raw['chips']}")
    return InstanceType(name, raw["accelerator"], raw["chips"], raw["source"], raw["confirmed"])


def load_instance_types(path: str | Path = INSTANCES_FILE) -> dict[str, InstanceType]:
    path = Path(path)
    data = read_toml(path, "instance types file")
    table = data.get("instance_types")
    if set(data) != {"instance_types"} or not isinstance(table, dict) or not table:
        raise CatalogError(f"instance types file {path}: expected [instance_types.NAME] tables only")
    return {name: _entry(path, name, raw) for name, raw in table.items()}


def lookup(instance_type: str | None) -> InstanceType | None:
    """The chips of ``instance_type``: instances.toml first, else the price list's entry of that name."""
    if not instance_type:
        return None
    known = load_instance_types()
    if instance_type in known:
        return known[instance_type]
    price = load_prices().get(instance_type)
    if price is None:
        return None
    return InstanceType(price.name, price.accelerator, price.accelerators,
                        f"price list (facts/data/prices.toml): {price.source}", price.confirmed)
