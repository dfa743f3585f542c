"""Published reference points (``facts/data/references.toml``): throughput
other people measured for a workload accelbench also runs, put beside the
measurements by ``accelbench report --references`` as rows labelled
"published" and costed with the same price catalog.

The file is checked the way ``facts.catalog`` checks devices.toml: anything
wrong is one ``CatalogError`` line naming the file, the entry and the field.
Each entry becomes a record-shaped dict (status ok, backend "published"), so
tables and plots treat it as a row like any other, with ``published`` set.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelbench.facts import catalog
from accelbench.harness.cost import UNCONFIRMED, usd_per_mtok
from accelbench.facts.schema import RESULT_SCHEMA

REFERENCES_FILE = catalog.DATA_DIR / "references.toml"
PUBLISHED = "published"
FIELDS = {"hardware", "workload", "tokens_per_s_per_chip", "derived", "chips", "precision", "sequence",
          "global_batch", "configuration", "framework", "software", "instance", "mfu", "mfu_convention", "source", "as_of",
          "confirmed", "note"}
REQUIRED_TEXT = ("hardware", "workload", "precision", "configuration", "framework", "instance", "source")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class Reference:
    key: str
    hardware: str
    workload: str
    tokens_per_s_per_chip: float
    chips: int
    precision: str
    configuration: str
    framework: str
    instance: str
    source: str
    as_of: str
    confirmed: bool
    sequence: int | None = None
    global_batch: int | None = None
    mfu: float | None = None
    mfu_convention: str = ""
    derived: str = ""
    software: str = ""
    note: str = ""


def _entry(path: Path, key: str, raw: Any, devices: dict, prices: dict) -> Reference:
    e = catalog._Entry(path, "references", key, raw, FIELDS)  # a table, known fields, a lower-case key
    for name in REQUIRED_TEXT:
        if not isinstance(raw.get(name), str) or not raw[name].strip():
            e.fail(f"'{name}' must be a non-empty string")
    for name in ("derived", "note", "mfu_convention", "software"):
        if name in raw and not isinstance(raw[name], str):
            e.fail(f"'{name}' must be a string")
    tps = raw.get("tokens_per_s_per_chip")
    if isinstance(tps, bool) or not isinstance(tps, (int, float)) or not math.isfinite(tps) or tps <= 0:
        e.fail(f"'tokens_per_s_per_chip' must be a positive number, got {tps!r}")
    for name, required in (("chips", True), ("sequence", False), ("global_batch", False)):
        value = raw.get(name)
        if value is None and not required:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            e.fail(f"'{name}' must be a whole number of 1 or more, got {value!r}")
    mfu = raw.get("mfu")
    if mfu is not None and (isinstance(mfu, bool) or not isinstance(mfu, (int, float)) or not 0 < mfu <= 1):
        e.fail(f"'mfu' must be a fraction above 0 and at most 1, got {mfu!r}")
    if raw["precision"] not in catalog.CATALOG_PEAKS:
        e.fail(f"unknown precision '{raw['precision']}'; accepted: {', '.join(catalog.CATALOG_PEAKS)}")
    if raw["hardware"] not in devices:
        e.fail(f"unknown hardware '{raw['hardware']}'; accepted: the keys of devices.toml "
               f"({', '.join(sorted(devices))})")
    if raw["instance"] not in prices:
        e.fail(f"unknown instance '{raw['instance']}'; accepted: the keys of prices.toml")
    workload = raw["workload"]
    kernel_name, _, preset = workload.partition(":")
    from accelbench import kernels

    try:
        kernels.get(kernel_name).config(preset or "tiny")
    except Exception as exc:  # KernelError: an unknown kernel or preset
        e.fail(f"'workload' {workload!r}: {exc}")
    confirmed = e.flag("confirmed")
    as_of = raw.get("as_of")
    if isinstance(as_of, dt.date):
        as_of = as_of.isoformat()[:10]
    elif not (isinstance(as_of, str) and (_MONTH.match(as_of) or _is_date(as_of))):
        e.fail(f"'as_of' must be a date like 2025-06-13 or a month like \"2025-10\", got {as_of!r}")
    return Reference(key=key, hardware=raw["hardware"], workload=workload, tokens_per_s_per_chip=float(tps),
                     chips=raw["chips"], precision=raw["precision"], configuration=raw["configuration"].strip(),
                     framework=raw["framework"].strip(), instance=raw["instance"], source=raw["source"].strip(),
                     as_of=as_of, confirmed=confirmed, sequence=raw.get("sequence"),
                     global_batch=raw.get("global_batch"), mfu=None if mfu is None else float(mfu),
                     mfu_convention=raw.get("mfu_convention", ""), derived=raw.get("derived", ""),
                     software=raw.get("software", ""),
                     note=raw.get("note", ""))


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def load_references(path: str | Path = REFERENCES_FILE, devices: dict | None = None,
                    prices: dict | None = None) -> dict[str, Reference]:
    """Every reference point of the file, checked; CatalogError on the first bad field."""
    path = Path(path)
    devices = catalog.load_devices() if devices is None else devices
    prices = catalog.load_prices(devices=devices) if prices is None else prices
    data = catalog.read_toml(path, "reference file")
    unknown = sorted(set(data) - {"references"})
    if unknown:
        raise catalog.CatalogError(f"reference file {path}: unknown top-level key '{unknown[0]}'; "
                                   "accepted: [references.NAME]")
    table = data.get("references")
    if not isinstance(table, dict) or not table:
        raise catalog.CatalogError(f"reference file {path}: no [references.NAME] entries")
    return {key: _entry(path, key, raw, devices, prices) for key, raw in table.items()}


def as_record(ref: Reference, devices: dict, prices: dict) -> dict:
    """A record-shaped row: the published throughput, costed at the catalog
    price per chip-hour of ``ref.instance`` (the same price a run gets)."""
    price = prices[ref.instance]
    device = devices[ref.hardware]
    per_chip_hour = price.usd_per_chip_hour
    # one second at tokens/s per chip: the run's formula, usd_per_hour ÷ (tokens/s × 3600) × 1e6
    per_mtok = usd_per_mtok(per_chip_hour, ref.tokens_per_s_per_chip, 1.0) if per_chip_hour else None
    marks = [] if price.confirmed else [UNCONFIRMED]
    kernel_name, _, preset = ref.workload.partition(":")
    return {
        "schema": RESULT_SCHEMA, "run_id": f"{PUBLISHED}:{ref.key}", "created_at": ref.as_of, "status": "ok",
        "kernel": {"name": kernel_name, "preset": preset or "tiny", "config": {}},
        "backend": {"name": PUBLISHED, "framework": ref.framework, "device_kind": ref.hardware,  # the catalog key: short
                    "device_name": device.name,
                    "device_catalog_key": ref.hardware, "device_count": ref.chips, "precision": ref.precision,
                    "fence": "not applicable: a published figure", "settings": {}, "info": {}},
        "timing": {}, "numerics": {},
        "metrics": {"tokens_per_s": ref.tokens_per_s_per_chip * ref.chips, "mfu": ref.mfu},
        "cost": {"usd_per_mtok": per_mtok, "instance": ref.instance, "usd_per_hour": per_chip_hour,
                 "marks": marks, "price_source": f"{ref.instance}: {price.source}, as of {price.as_of}"},
        "env": {"software": ref.software} if ref.software else {},
        "_published": ref,
        "_source": f"{REFERENCES_FILE.name}#{ref.key}",
        "_case_id": f"{PUBLISHED}:{ref.key}",
        "_folder": PUBLISHED,
    }


def published_records(path: str | Path = REFERENCES_FILE) -> list[dict]:
    devices = catalog.load_devices()
    prices = catalog.load_prices(devices=devices)
    return [as_record(ref, devices, prices) for ref in load_references(path, devices, prices).values()]
