"""pytest-benchmark JSON (``--benchmark-json``, ``--benchmark-autosave``) read
as accelbench result records, so ``accelbench report`` reads both.

The accelbench pytest plugin (``harness.pytest_plugin``) stores each case's
whole record (schema ``accelbench.result/1``) in ``extra_info["record"]``, so
reading it back is unwrapping it. Entries of other benchmarks in the same
file have no record and are left out. Files written by the plugin's first
format (``accelbench.pytest-benchmark/1``, flat keys) are not read: run the
benchmarks again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from accelbench.facts.schema import PLUGIN_SCHEMA
from accelbench.harness.records import RecordError, skeleton_problem



def is_pytest_benchmark_file(data: Any) -> bool:
    """A pytest-benchmark document: a ``benchmarks`` list and ``machine_info``."""
    return isinstance(data, dict) and isinstance(data.get("benchmarks"), list) and "machine_info" in data


def pytest_benchmark_format(path: Path, data: Any) -> list[dict[str, Any]] | None:
    """A ``reports.load`` format loader: the records of a pytest-benchmark
    document, or None when ``data`` is not one."""
    if not is_pytest_benchmark_file(data):
        return None
    records = [{**info["record"], "_case_id": info.get("case_id")} for info in
               ((entry.get("extra_info") or {}) for entry in data["benchmarks"])
               if info.get("accelbench") == PLUGIN_SCHEMA and isinstance(info.get("record"), dict)]
    for record in records:  # the same record schema as a record file's (harness.records)
        if problem := skeleton_problem(record):
            raise RecordError(f"{path}: benchmark {record.get('_case_id') or '?'}: {problem}")
    return records


def records_from_pytest_benchmark(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The records of one pytest-benchmark JSON file; RecordError names a file that is not one."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise RecordError(f"{path}: cannot read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise RecordError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not is_pytest_benchmark_file(data):
        raise RecordError(f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list and 'machine_info')")
    return pytest_benchmark_format(path, data)


__all__ = ["PLUGIN_SCHEMA", "is_pytest_benchmark_file", "pytest_benchmark_format", "records_from_pytest_benchmark"]
