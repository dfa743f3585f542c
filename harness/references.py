"""The published reference points (facts/data/references.toml, read here because an entry names a kernel): each a figure someone published for a
workload on a chip, with its source and date, checked on load like the catalog (one line naming file,
entry and field). The report turns them into rows (reports/references.py); the dry-run reads their MFU
(harness/estimate.py)."""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from accelbench.facts import catalog

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


