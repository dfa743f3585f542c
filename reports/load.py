"""Load result folders into a pandas DataFrame: one row per case, nested
fields flattened with dots (``metrics.tokens_per_s``). Files that are not
readable result records are skipped with one warning each."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.records import RecordError, load_record, record_files


@dataclass
class Loaded:
    records: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def frame(self):
        import pandas as pd

        if not self.records:
            return pd.DataFrame()
        flat = []
        for rec in self.records:
            rec = {k: v for k, v in rec.items() if k != "timing"} | {
                "timing": {k: v for k, v in (rec.get("timing") or {}).items() if k != "samples_s"}
            }
            flat.append(rec)
        return pd.json_normalize(flat, max_level=3)


def load_folders(folders) -> Loaded:
    loaded = Loaded()
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            raise RecordError(f"{folder}: not a results folder")
        for path in record_files(folder):
            try:
                record = load_record(path)
            except RecordError as exc:
                loaded.warnings.append(f"skipped {exc}")
                continue
            record["_source"] = str(path)
            loaded.records.append(record)
    return loaded
