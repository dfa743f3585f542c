"""The device catalog and the price list: typed, validated, with sources.

``data/devices.toml`` holds each accelerator's dense peak TFLOP/s per
precision, memory size and bandwidth; ``data/prices.toml`` holds instance
prices. Every entry names its source and a date. A user adds or corrects
prices with a file in the same format as ``prices.toml`` (``--prices FILE``);
an entry whose name already exists is merged over the built-in one.

Anything wrong in a file raises ``CatalogError`` with one line naming the
file, the entry and the problem (``cli.main`` turns it into exit status 2).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn


DATA_DIR = Path(__file__).resolve().parent / "data"
DEVICES_FILE = DATA_DIR / "devices.toml"
PRICES_FILE = DATA_DIR / "prices.toml"

CATALOG_PEAKS = ("fp32", "tf32", "bf16", "fp8")
"""The dense peaks a device entry may list: every precision policy's ``peak``
(kernels/precision.py) plus fp8, which vendors publish though no policy runs in it yet."""
PRICING_KINDS = ("on-demand", "committed", "spot")
TIERS = ("on-demand", "spot", "reserved-1y", "reserved-3y", "savings-plan-1y", "savings-plan-3y", "capacity-block",
         "committed-use-1y", "committed-use-3y")
"""Ways to buy the same instance (``--tier``): "on-demand" is an entry's own price, the others its ``tiers``."""
_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]*$")

DEVICE_FIELDS = {"name", "vendor", "peak_tflops", "memory_gb", "memory_tbps", "source", "as_of", "unconfirmed", "note",
                 "cores_per_chip", "megacore", "cores_source", "names"}
NAME_FIELDS = {"driver", "examples", "jax_kinds", "pci_ids", "instance_families", "none_because"}
PRICE_FIELDS = {"provider", "region", "kind", "usd_per_hour", "accelerator", "accelerators", "source", "as_of",
                "confirmed", "note", "usd_per_chip_hour", "tiers", "disputed_by", "aliases"}
TIER_FIELDS = {"usd_per_hour", "usd_per_chip_hour", "region", "source", "as_of", "confirmed", "note", "disputed_by"}
ALTERNATIVE_FIELDS = {"usd_per_hour", "source", "as_of", "note"}


class CatalogError(ValueError):
    """A device or price file is malformed; the message names file, entry and problem."""


@dataclass(frozen=True)
class DeviceNames:
    """How device discovery (backends/discovery.py) recognizes the chip."""

    driver: tuple[str, ...] = ()
    """Regexes on the GPU name the driver reports (nvidia-smi, NVML, torch, a JAX GPU device_kind)."""
    examples: tuple[str, ...] = ()
    """Names the driver reports, each matched by ``driver`` (tested: by this entry only)."""
    jax_kinds: tuple[str, ...] = ()
    """JAX ``device_kind`` strings of a TPU."""
    pci_ids: tuple[str, ...] = ()
    """PCI device ids of a TPU under Google's vendor id."""
    instance_families: tuple[str, ...] = ()
    """EC2 instance families with this chip (trn2 of trn2.48xlarge)."""
    none_because: str = ""
    """Why nothing maps to the entry yet (it then gets no MFU)."""


@dataclass(frozen=True)
class DeviceSpec:
    key: str
    name: str
    vendor: str
    peak_tflops: dict[str, float]
    """Dense TFLOP/s per chip, by precision (a subset of ``CATALOG_PEAKS``)."""
    memory_gb: float
    memory_tbps: float
    source: str
    as_of: dt.date
    unconfirmed: tuple[str, ...] = ()
    note: str = ""
    cores_per_chip: int = 1
    """Physical compute cores per chip (NeuronCores, TensorCores); 1 for GPUs."""
    megacore: bool = False
    """Frameworks fuse the chip's cores into one device (TPU v4, v5p)."""
    cores_source: str = ""
    names: DeviceNames = DeviceNames()

    @property
    def confirmed(self) -> bool:
        return not self.unconfirmed


@dataclass(frozen=True)
class InstancePrice:
    name: str
    provider: str
    region: str
    kind: str
    usd_per_hour: float | None
    """Whole-instance price; None where no price was found (confirmed is then False)."""
    accelerator: str
    accelerators: int
    source: str
    as_of: dt.date
    confirmed: bool
    note: str = ""
    origin: str = field(default="built-in", compare=False)
    """The file the entry (or its latest override) came from."""
    tier: str = ""
    """The tier this price is (``TIERS``); "" for an entry's own price (its ``kind``)."""
    base: str = ""
    """For a tier: the entry it belongs to (its name is ``base-tier``); "" for the entry itself."""
    tiers: tuple[str, ...] = ()
    """An entry's other tiers, by name (their prices are entries ``name-tier`` of the loaded list)."""
    disputed_by: tuple["Alternative", ...] = ()
    """Other public figures for this same price: a reader should doubt it (cost mark "disputed")."""
    aliases: tuple[str, ...] = ()

    @property
    def usd_per_chip_hour(self) -> float | None:
        return None if self.usd_per_hour is None else self.usd_per_hour / self.accelerators

    @property
    def tier_name(self) -> str:
        return self.tier or ("on-demand" if self.kind == "on-demand" else self.kind)


@dataclass(frozen=True)
class Alternative:
    """Another public figure for a price (a disputed price names each)."""

    usd_per_hour: float
    source: str
    as_of: dt.date
    note: str = ""


# --------------------------------------------------------------------- reading
def read_toml(path: Path, what: str, error: type[Exception] = CatalogError) -> dict[str, Any]:
    """A TOML file of facts or settings, or one ``error`` line naming ``what`` file and why not."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise error(f"{what} {path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise error(f"{what} {path}: not a text file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{what} {path}: not valid TOML ({exc})") from None
    except RecursionError:
        raise error(f"{what} {path}: not valid TOML (nested too deeply)") from None


def _table(data: dict, top: str, path: Path, what: str, allow_missing: bool = False) -> dict[str, Any]:
    unknown = sorted(set(data) - {top})
    if unknown:
        raise CatalogError(f"{what} {path}: unknown top-level key '{unknown[0]}'; accepted: [{top}.NAME] tables")
    table = data.get(top, {} if allow_missing else None)
    if not isinstance(table, dict) or (not table and not allow_missing):
        raise CatalogError(f"{what} {path}: no [{top}.NAME] entries")
    return table


class _Entry:
    """Field checks for one entry; every failure names file, entry and field."""

    def __init__(self, path: Path, section: str, name: str, raw: Any, allowed: set[str]):
        self.where = f"{path}: [{section}.\"{name}\"]"
        if not isinstance(raw, dict):
            raise CatalogError(f"{self.where}: must be a table of fields")
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise CatalogError(f"{self.where}: unknown field '{unknown[0]}'; accepted: {', '.join(sorted(allowed))}")
        if not _KEY.match(name):
            raise CatalogError(f"{self.where}: name must be lower-case letters, digits, '.', '_' or '-'")
        self.raw = raw

    @classmethod
    def nested(cls, where: str, raw: Any, allowed: set[str]) -> "_Entry":
        """A table inside an entry (``disputed_by[0]``), checked the same way."""
        entry = cls.__new__(cls)
        entry.where, entry.raw = where, raw
        unknown = sorted(set(raw) - allowed)
        if unknown:
            entry.fail(f"unknown field '{unknown[0]}'; accepted: {', '.join(sorted(allowed))}")
        return entry

    def fail(self, message: str) -> NoReturn:
        raise CatalogError(f"{self.where}: {message}")

    def text(self, key: str, required: bool = True, default: str = "") -> str:
        value = self.raw.get(key)
        if value is None:
            if required:
                self.fail(f"missing '{key}'")
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(f"'{key}' must be a non-empty string")
        return value.strip()

    def positive(self, key: str, value: Any = None, label: str | None = None) -> float:
        value = self.raw.get(key) if value is None else value
        label = label or key
        if value is None:
            self.fail(f"missing '{label}'")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(f"'{label}' must be a number, got {value!r}")
        if value <= 0:
            self.fail(f"'{label}' must be positive, got {value}")
        return float(value)

    def whole(self, key: str, unit: str) -> int:
        """A positive whole number; ``unit`` completes the message (" of chips")."""
        value = self.raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.fail(f"'{key}' must be a positive whole number{unit}, got {value!r}")
        return value

    def flag(self, key: str) -> bool:
        value = self.raw.get(key, False)
        if not isinstance(value, bool):
            self.fail(f"'{key}' must be true or false, got {value!r}")
        return value

    def date(self) -> dt.date:
        value = self.raw.get("as_of")
        if value is None:
            self.fail("missing 'as_of' (the date the figure was published or checked, e.g. as_of = 2026-11-26)")
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(f"'as_of' must be a date like 2026-11-26, got {value!r}")


# --------------------------------------------------------------------- devices
def _device(path: Path, key: str, raw: Any) -> DeviceSpec:
    e = _Entry(path, "devices", key, raw, DEVICE_FIELDS)
    peaks_raw = raw.get("peak_tflops")
    if not isinstance(peaks_raw, dict) or not peaks_raw:
        e.fail("'peak_tflops' must be a table of precision = dense TFLOP/s, e.g. { bf16 = 989.5 }")
    peaks = {}
    for precision, value in peaks_raw.items():
        if precision not in CATALOG_PEAKS:
            e.fail(f"unknown precision '{precision}' in peak_tflops; accepted: {', '.join(CATALOG_PEAKS)}")
        peaks[precision] = e.positive(precision, value, f"peak_tflops.{precision}")
    unconfirmed = raw.get("unconfirmed", [])
    if not isinstance(unconfirmed, list) or not all(isinstance(u, str) for u in unconfirmed):
        e.fail("'unconfirmed' must be a list of field names")
    known = DEVICE_FIELDS | set(CATALOG_PEAKS)
    bad = [u for u in unconfirmed if u not in known]
    if bad:
        e.fail(f"'unconfirmed' names unknown field '{bad[0]}'")
    cores = e.whole("cores_per_chip", " (physical cores per chip; 1 for GPUs)")
    megacore = e.flag("megacore")
    if megacore and cores < 2:
        e.fail("'megacore' = true needs 'cores_per_chip' of 2 or more (it fuses a chip's cores into one device)")
    cores_source = e.text("cores_source", required=cores > 1)
    names = _names(e, raw.get("names"))
    return DeviceSpec(
        names=names,
        key=key,
        cores_per_chip=cores,
        megacore=megacore,
        cores_source=cores_source,
        name=e.text("name"),
        vendor=e.text("vendor"),
        peak_tflops=peaks,
        memory_gb=e.positive("memory_gb"),
        memory_tbps=e.positive("memory_tbps"),
        source=e.text("source"),
        as_of=e.date(),
        unconfirmed=tuple(unconfirmed),
        note=e.text("note", required=False),
    )


def _names(e: "_Entry", raw: Any) -> DeviceNames:
    accepted = ", ".join(sorted(NAME_FIELDS))
    if raw is None:
        return DeviceNames()  # discovery never picks it (tests/backends/test_discovery.py holds the built-in catalog to names)
    if not isinstance(raw, dict) or not raw:
        e.fail(f"'names' must be a table saying how discovery recognizes the chip; accepted keys: {accepted}")
    unknown = sorted(set(raw) - NAME_FIELDS)
    if unknown:
        e.fail(f"unknown key '{unknown[0]}' in names; accepted: {accepted}")
    lists = {}
    for key in NAME_FIELDS - {"none_because"}:
        value = raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            e.fail(f"'names.{key}' must be a list of strings")
        lists[key] = tuple(value)
    for pattern in lists["driver"]:
        try:
            re.compile(pattern)
        except re.error as exc:
            e.fail(f"'names.driver' pattern {pattern!r} is not a regular expression ({exc})")
    because = raw.get("none_because", "")
    if not isinstance(because, str) or bool(because) == any(lists.values()):
        e.fail("'names' needs driver/jax_kinds/pci_ids/instance_families, or none_because (why none) alone")
    return DeviceNames(none_because=because, **lists)


def load_devices(path: str | Path = DEVICES_FILE) -> dict[str, DeviceSpec]:
    """Every device of the catalog, by catalog key."""
    path = Path(path)
    table = _table(read_toml(path, "device catalog"), "devices", path, "device catalog")
    return {key: _device(path, key, raw) for key, raw in table.items()}


# --------------------------------------------------------------------- prices
def _usd(e: _Entry, accelerators: int) -> float | None:
    """A whole-instance $/h from ``usd_per_hour``, or ``usd_per_chip_hour`` x chips (TPU slices are sold per chip)."""
    if "usd_per_hour" in e.raw and "usd_per_chip_hour" in e.raw:
        e.fail("give 'usd_per_hour' (the whole instance) or 'usd_per_chip_hour' (per chip), not both")
    if "usd_per_chip_hour" in e.raw:
        return e.positive("usd_per_chip_hour") * accelerators
    return e.positive("usd_per_hour") if "usd_per_hour" in e.raw else None


def _alternatives(e: _Entry) -> tuple[Alternative, ...]:
    raw = e.raw.get("disputed_by", [])
    if not isinstance(raw, list) or not all(isinstance(a, dict) for a in raw):
        e.fail("'disputed_by' must be a list of tables { usd_per_hour, source, as_of, note }")
    out = []
    for i, alt in enumerate(raw):
        sub = _Entry.nested(f"{e.where} disputed_by[{i}]", alt, ALTERNATIVE_FIELDS)
        out.append(Alternative(sub.positive("usd_per_hour"), sub.text("source"), sub.date(), sub.text("note", required=False)))
    return tuple(out)


def _tier(path: Path, base: InstancePrice, tier: str, raw: Any, origin: str) -> InstancePrice:
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: [instances.\"{base.name}\".tiers.\"{tier}\"]: must be a table of fields")
    e = _Entry.nested(f"{path}: [instances.\"{base.name}\".tiers.\"{tier}\"]", raw, TIER_FIELDS)
    if tier not in TIERS or tier == "on-demand":
        e.fail(f"unknown tier '{tier}'; accepted: {', '.join(TIERS[1:])} (on-demand is the entry's own price)")
    usd = _usd(e, base.accelerators)
    if usd is None:
        e.fail("missing 'usd_per_hour' (or 'usd_per_chip_hour'): a tier without a price is left out, not guessed")
    return InstancePrice(
        name=f"{base.name}-{tier}", provider=base.provider, region=e.text("region"),
        kind="spot" if tier == "spot" else "committed", usd_per_hour=usd, accelerator=base.accelerator,
        accelerators=base.accelerators, source=e.text("source"), as_of=e.date(), confirmed=e.flag("confirmed"),
        note=e.text("note", required=False), origin=origin, tier=tier, base=base.name, disputed_by=_alternatives(e))


def _price(path: Path, name: str, raw: Any, devices: dict[str, DeviceSpec], origin: str) -> list[InstancePrice]:
    """The entry's own price, then one price per tier (named ``name-tier``)."""
    e = _Entry(path, "instances", name, raw, PRICE_FIELDS)
    kind = e.text("kind")
    if kind not in PRICING_KINDS:
        e.fail(f"unknown pricing kind '{kind}'; accepted: {', '.join(PRICING_KINDS)}")
    accelerator = e.text("accelerator")
    if accelerator not in devices:
        e.fail(f"unknown accelerator key '{accelerator}'; accepted: {', '.join(sorted(devices))}")
    count = e.whole("accelerators", " of chips")
    confirmed = e.flag("confirmed")
    usd = _usd(e, count)
    if usd is None and confirmed:
        e.positive("usd_per_hour")  # a confirmed entry needs its price: fails naming the field
    tiers_raw = raw.get("tiers", {})
    if not isinstance(tiers_raw, dict):
        e.fail(f"'tiers' must be a table of tier = {{ usd_per_hour, region, source, as_of, confirmed }}; "
               f"accepted tiers: {', '.join(TIERS[1:])}")
    aliases = raw.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) and _KEY.match(a) for a in aliases):
        e.fail("'aliases' must be a list of lower-case names")
    entry = InstancePrice(
        name=name,
        provider=e.text("provider"),
        region=e.text("region"),
        kind=kind,
        usd_per_hour=usd,
        accelerator=accelerator,
        accelerators=count,
        source=e.text("source"),
        as_of=e.date(),
        confirmed=confirmed,
        note=e.text("note", required=False),
        origin=origin,
        tiers=tuple(tiers_raw),
        disputed_by=_alternatives(e),
        aliases=tuple(aliases),
    )
    return [entry] + [_tier(path, entry, tier, tiers_raw[tier], origin) for tier in tiers_raw]


def load_prices(extra_file: str | Path | None = None, builtin: str | Path = PRICES_FILE,
                devices: dict[str, DeviceSpec] | None = None) -> dict[str, InstancePrice]:
    """The built-in price list, with ``extra_file``'s entries merged over it
    (field by field for names that already exist, whole for new names)."""
    devices = load_devices() if devices is None else devices
    builtin = Path(builtin)
    merged: dict[str, tuple[Path, dict]] = {
        name: (builtin, raw) for name, raw in _table(read_toml(builtin, "price list"), "instances", builtin, "price list").items()
    }
    if extra_file is not None:
        extra = Path(extra_file)
        table = _table(read_toml(extra, "price file"), "instances", extra, "price file")
        for name, raw in table.items():
            if not isinstance(raw, dict):
                raise CatalogError(f"{extra}: [instances.\"{name}\"]: must be a table of fields")
            if "usd_per_hour" in raw:
                missing = [k for k in ("source", "as_of") if k not in raw]
                if missing:
                    raise CatalogError(f"{extra}: [instances.\"{name}\"]: a price needs its own '{missing[0]}' "
                                       "(where the price comes from, and its date)")
                raw = {"confirmed": True, **raw}  # the user vouches for their own price
            base = merged.get(name, (extra, {}))[1]
            tiers = raw.get("tiers")
            if isinstance(tiers, dict) and isinstance(base.get("tiers"), dict):  # tier by tier, field by field
                own = {t: {"confirmed": True, **v} if isinstance(v, dict) and "usd_per_hour" in v else v
                       for t, v in tiers.items()}
                raw = {**raw, "tiers": base["tiers"] | {t: {**base["tiers"].get(t, {}), **v} if isinstance(v, dict)
                                                        else v for t, v in own.items()}}
            merged[name] = (extra, {**base, **raw})
    out: dict[str, InstancePrice] = {}
    for name, (path, raw) in merged.items():
        for price in _price(path, name, raw, devices, "built-in" if path == builtin else str(path)):
            if price.name in out:
                raise CatalogError(f"{path}: [instances.\"{price.base}\"]: tier '{price.tier}' makes the name "
                                   f"'{price.name}', which another entry already has")
            out[price.name] = price
    return out


def find(prices: dict[str, InstancePrice], name: str) -> InstancePrice | None:
    """The price named ``name`` or carrying it as an alias (``v6e-8`` is ``tpu-v6e-8``)."""
    if name in prices:
        return prices[name]
    return next((p for p in prices.values() if name in p.aliases), None)


def at_tier(prices: dict[str, InstancePrice], entry: InstancePrice, tier: str | None) -> InstancePrice:
    """``entry`` bought as ``tier`` (None: its own price); CatalogError naming the tiers it has."""
    if tier is None:
        return entry
    if tier not in TIERS:
        raise CatalogError(f"unknown tier '{tier}'; accepted: {', '.join(TIERS)}")
    base = prices.get(entry.base, entry) if entry.base else entry  # a tier's own entry names its base
    if tier == base.tier_name:
        return base
    if tier in base.tiers:
        return prices[f"{base.name}-{tier}"]
    has = [base.tier_name + ("" if base.usd_per_hour is not None else " (no price)")] + list(base.tiers)
    raise CatalogError(f"instance '{base.name}' has no '{tier}' price; its tiers: {', '.join(has)}")
