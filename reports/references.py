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

from pathlib import Path

from accelbench.facts import catalog
from accelbench.harness.references import PUBLISHED, REFERENCES_FILE, Reference, load_references  # noqa: F401
from accelbench.harness.cost import UNCONFIRMED, usd_per_mtok
from accelbench.facts.schema import RESULT_SCHEMA

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
