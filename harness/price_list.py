"""``accelbench prices``: the price list (tiers under their instance, disputed figures named) and the
device peaks, as text or JSON. The data and its checks are facts/catalog.py."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from accelbench.facts.catalog import CATALOG_PEAKS, DeviceSpec, InstancePrice, load_devices, load_prices


def describe(prices_file: str | Path | None = None, as_json: bool = False) -> str:
    """``accelbench prices``: every instance price and device peak, with sources."""
    import json

    devices = load_devices()
    prices = load_prices(prices_file, devices=devices)
    if as_json:
        def plain(obj) -> dict:
            d = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in obj.__dict__.items()}
            if isinstance(obj, InstancePrice):
                d["usd_per_chip_hour"] = obj.usd_per_chip_hour
                d["tier"] = obj.tier_name
                d["tiers"], d["aliases"] = list(obj.tiers), list(obj.aliases)
                d["disputed_by"] = [{**a.__dict__, "as_of": a.as_of.isoformat()} for a in obj.disputed_by]
            if isinstance(obj, DeviceSpec):
                d["unconfirmed"] = list(obj.unconfirmed)
                d["names"] = {k: list(v) if isinstance(v, tuple) else v for k, v in obj.names.__dict__.items() if v}
            return d
        return json.dumps({"instances": [plain(p) for p in prices.values()],
                           "devices": [plain(d) for d in devices.values()]}, indent=2)
    lines = ["Instance prices (USD; * = not confirmed on the provider's page; ! = disputed, another public source "
             "differs; tiers under their instance, `--instance NAME --tier TIER`; `accelbench prices --json` for sources)",
             f"{'instance':<28} {'provider':<8} {'region':<12} {'tier':<15} {'$/hour':>9} {'chips':>17} {'$/chip-h':>9}  as of"]
    for p in prices.values():
        usd = "-" if p.usd_per_hour is None else f"{p.usd_per_hour:.4g}"
        per_chip = "-" if p.usd_per_chip_hour is None else f"{p.usd_per_chip_hour:.4g}"
        mark = ("" if p.confirmed else "*") + ("!" if p.disputed_by else "")
        name = f"  - {p.tier}" if p.base else p.name + (f" ({', '.join(p.aliases)})" if p.aliases else "")
        lines.append(f"{name + mark:<28} {p.provider:<8} {p.region:<12} {p.tier_name:<15} {usd:>9} "
                     f"{str(p.accelerators) + ' x ' + p.accelerator:>17} {per_chip:>9}  {p.as_of}"
                     + ("" if p.origin == "built-in" else f"  (from {p.origin})"))
        lines += [f"{'':<4}! also ${a.usd_per_hour:g}/h: {a.source} ({a.as_of})" for a in p.disputed_by]
    lines += ["", "Device peaks (dense TFLOP/s per chip; * = some figure not confirmed; cores = physical cores per chip,"
              " m = megacore: one framework device per chip)",
              f"{'device':<15} {'fp32':>7} {'tf32':>7} {'bf16':>7} {'fp8':>7} {'mem GB':>7} {'TB/s':>6} {'cores':>5}  source"]
    for d in devices.values():
        cells = [f"{d.peak_tflops[k]:g}" if k in d.peak_tflops else "-" for k in CATALOG_PEAKS]
        lines.append(f"{d.key + ('' if d.confirmed else '*'):<15} " + " ".join(f"{c:>7}" for c in cells)
                     + f" {d.memory_gb:>7g} {d.memory_tbps:>6g} {str(d.cores_per_chip) + ('m' if d.megacore else ''):>5}"
                     + f"  {d.source}")
    return "\n".join(lines)
