"""Load results folders into a pandas DataFrame: one row per case, nested
fields flattened with dots (``metrics.tokens_per_s``, ``cost.usd_per_mtok``).

Loading is pluggable: each file format is one function in ``FORMATS``
that takes a file's path and its parsed JSON and returns the result records
it holds, or ``None`` when the file is not in its format. A file no format
claims, or one that is empty, truncated or otherwise unreadable, is skipped
with one warning naming it; loading never stops at a bad file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from accelbench.harness.history import LATEST
from accelbench.harness.plan import Case, CaseId
from accelbench.facts.schema import PLAN_FILE, RESULT_SCHEMA
from accelbench.harness.records import RecordError, load_record, read_json, record_files
from accelbench.reports import validate

# A file format: (path, parsed JSON) -> the records in it, or None if not this format.
# It raises RecordError when the file claims the format but breaks it.
FormatLoader = Callable[[Path, Any], "list[dict] | None"]


def accelbench_result(path: Path, data: Any) -> list[dict] | None:
    """One ``accelbench.result/1`` record per file, checked by harness.records."""
    if not isinstance(data, dict) or data.get("schema") != RESULT_SCHEMA:
        return None
    return [load_record(path)]


FORMATS: dict[str, FormatLoader] = {"accelbench.result/1": accelbench_result}


def register_format(name: str, loader: FormatLoader) -> None:
    """Teach ``report`` and ``compare`` another file format (e.g. pytest-benchmark JSON)."""
    FORMATS[name] = loader


class NothingFound(Exception):
    """No result record in the folders given: a report or comparison of nothing is not a success."""


def require_records(loaded: "Loaded", what: str = "") -> None:
    """Raise ``NothingFound`` naming each folder that held no record (and why, when a warning says)."""
    if loaded.records:
        return
    empty = ", ".join(f"{f}/" for f in loaded.folders) or "the folders given"
    hint = next((w for w in loaded.warnings if "holds run folders" in w), None)
    raise NothingFound(f"{what}no result records in {empty}" + (f"; {hint.split('; ', 1)[1]}" if hint else
                                                                  " (an empty folder, or no accelbench result files)"))


@dataclass
class Loaded:
    """Records from one or more folders, and one warning per file skipped."""

    records: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)

    def frame(self):
        """One row per record; timing samples left out (they live in ``records``).

        Added columns: ``workload`` (kernel:preset), ``case_id`` (the record's
        file name without .json, which encodes kernel, preset, backend and a
        hash of any non-default settings), ``source`` and ``folder``."""
        import pandas as pd

        if not self.records:
            return pd.DataFrame()
        flat = []
        for rec in self.records:
            timing = {k: v for k, v in (rec.get("timing") or {}).items() if k != "samples_s"}
            plain = {k: v for k, v in rec.items() if k != "timing" and not k.startswith("_")}
            flat.append(plain | {"timing": timing})
        df = pd.DataFrame([_flatten(rec) for rec in flat])  # pd.json_normalize(flat, max_level=3), without its deep copies
        # Whole dicts too, for telling apart cases of one workload run with different settings.
        df["kernel_config"] = [dict((r.get("kernel") or {}).get("config") or {}) for r in self.records]
        df["backend_settings"] = [dict((r.get("backend") or {}).get("settings") or {}) for r in self.records]
        df["workload"] = df["kernel.name"].astype(str) + ":" + df["kernel.preset"].astype(str)
        df["case_id"] = [case_id(r) for r in self.records]
        df["source"] = [r.get("_source") for r in self.records]
        df["folder"] = [r.get("_folder") for r in self.records]
        df["published"] = [bool(r.get("_published")) for r in self.records]
        df["record"] = self.records  # the whole record, for what the flat columns do not hold (samples, sharding)
        return df


def _flatten(record: dict, prefix: str = "", level: int = 0, max_level: int = 3) -> dict:
    """``pandas.json_normalize(max_level=3)``'s flattening of one record, with its
    column order (a top-level table's fields after the top-level values; deeper,
    in the record's order), but no deep copy of every level (20x faster on 2,000 records)."""
    out: dict = {}
    tables = []
    for key, v in record.items():
        name = str(key) if level == 0 else f"{prefix}.{key}"
        if isinstance(v, dict) and level < max_level:
            if level == 0:
                tables.append((name, v))
            else:
                out.update(_flatten(v, name, level + 1, max_level))
        else:
            out[name] = v
    for name, v in tables:
        out.update(_flatten(v, name, 1, max_level))
    return out


def case_id(record: dict) -> str:
    """The identity ``compare`` matches cases by: the record's file stem, or
    ``_case_id`` set by a format loader whose files hold several records."""
    if record.get("_case_id"):
        return str(record["_case_id"])
    source = record.get("_source")
    return Path(source).stem if source else _plain_case_id(record)


def _plain_case_id(record: dict) -> str:
    kernel, backend = record.get("kernel") or {}, record.get("backend") or {}
    return str(CaseId(str(kernel.get("name")), str(kernel.get("preset")), str(backend.get("name"))))


def load_file(path: Path) -> list[dict]:
    """The records in one file; RecordError (naming the file) when it holds none."""
    data = read_json(path)
    for name, loader in FORMATS.items():
        records = loader(path, data)
        if records is not None:
            if not records:
                raise RecordError(f"{path}: a {name} file with no accelbench results in it")
            return records
    raise RecordError(f"{path}: not a result record in any known format ({', '.join(FORMATS)})")


def load_folders(folders, all_runs: bool = False) -> Loaded:
    """Load every folder; a missing folder is an error (RecordError), a bad
    file a warning. A folder given twice is read once; a record met twice
    (the same case of the same run) is kept once; a case with records from
    several runs keeps the newest unless ``all_runs``; each with a warning."""
    loaded = Loaded()
    seen_folders: dict[Path, str] = {}
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            why = "a file, not a folder" if folder.exists() else "no such directory"
            raise RecordError(f"{folder}: not a results folder ({why})")
        real = folder.resolve()
        if real in seen_folders:
            loaded.warnings.append(f"folder {folder} given twice (same as {seen_folders[real]}); read once")
            continue
        seen_folders[real] = str(folder)
        loaded.folders.append(str(folder))
        for path in record_files(folder):
            try:
                records = load_file(path)
                for record in records:
                    if problem := validate.record_problem(record):
                        raise RecordError(f"{path}: {problem}")
            except RecordError as exc:
                loaded.warnings.append(f"skipped {exc}")
                continue
            for record in records:
                record.setdefault("_source", str(path))
                if len(records) > 1 and not record.get("_case_id"):
                    record["_case_id"] = f"{path.stem}:{_plain_case_id(record)}"
                record["_folder"] = str(folder)
                loaded.records.append(record)
        loaded.warnings += _leftovers(folder, [r for r in loaded.records if r["_folder"] == str(folder)])
        if not record_files(folder) and (folder / LATEST).exists():  # the run-history root, not a run
            loaded.warnings.append(f"{folder} holds run folders, not records; give {folder / LATEST} "
                                   f"(the newest run) or {folder}/*/ (every run)")
    loaded.records, warnings = _one_per_case(loaded.records, all_runs)
    loaded.warnings += warnings
    return loaded


def _leftovers(folder: Path, records: list[dict]) -> list[str]:
    """Records in ``folder`` its latest plan did not ask for: left by an
    earlier run into the same folder, which a reader must not take for this one."""
    try:
        plan = json.loads((folder / PLAN_FILE).read_text())
        planned = {Case.from_dict(c).case_id for c in plan["cases"]}
    except Exception:  # no plan, or one this version cannot read: nothing to say
        return []
    stale = sorted(Path(r["_source"]).stem for r in records
                   if r.get("_source", "").endswith(".json") and "_case_id" not in r
                   and Path(r["_source"]).stem not in planned)
    if not stale:
        return []
    return [f"{folder}: {len(stale)} record(s) not in its latest plan, left by an earlier run into the same "
            f"folder: {', '.join(stale[:5])}{' ...' if len(stale) > 5 else ''}"]


def same_case_key(record: dict) -> str:
    """What makes two records measurements of the same case, wherever their files lie."""
    kernel, backend = record.get("kernel") or {}, record.get("backend") or {}
    return json.dumps([kernel.get("name"), kernel.get("preset"), kernel.get("config"), backend.get("name"),
                       backend.get("settings"), backend.get("device_count")], sort_keys=True, default=str)


def _one_per_case(records: list[dict], all_runs: bool) -> tuple[list[dict], list[str]]:
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(same_case_key(record), []).append(record)
    keep, warnings = [], []
    for group in groups.values():
        distinct: dict[tuple, dict] = {}
        for record in group:
            run = (record.get("run_id"), record.get("created_at"))
            if run in distinct:
                warnings.append(f"duplicate record: {record['_source']} is the same case of the same run as "
                                f"{distinct[run]['_source']}; counted once")
                continue
            distinct[run] = record
        runs = sorted(distinct.values(), key=lambda r: str(r.get("created_at") or ""))
        if len(runs) > 1:
            newest = runs[-1]
            sources = ", ".join(f"{r['_source']} (run {r.get('run_id')})" for r in runs)
            if all_runs:
                warnings.append(f"case {case_id(newest)} has records from {len(runs)} runs: {sources}; showing all")
            else:
                warnings.append(f"case {case_id(newest)} has records from {len(runs)} runs: {sources}; showing the "
                                f"newest ({newest['_source']}); --all-runs shows every one")
                runs = [newest]
        keep += runs
    order = {id(r): i for i, r in enumerate(records)}
    return sorted(keep, key=lambda r: order[id(r)]), warnings


# pytest-benchmark JSON written by accelbench's pytest plugin (harness/pytest_plugin.py).
from accelbench.reports.pytest_benchmark import pytest_benchmark_format  # noqa: E402

register_format("pytest-benchmark", pytest_benchmark_format)
