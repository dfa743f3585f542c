"""pytest-benchmark JSON (``--benchmark-json``, ``--benchmark-autosave``) to
accelbench result records, so ``accelbench report`` reads both.

Only entries the accelbench pytest plugin wrote (``extra_info["accelbench"]``,
see ``harness.pytest_plugin``) become records; other benchmarks in the same
file have no kernel or backend to place them by and are left out. The step
statistics come from pytest-benchmark's own (each round is one fenced step);
``p10``/``p90`` and the bootstrap interval are recomputed from the raw round
times when the file carries them (pytest-benchmark stores them with
``--benchmark-save-data``), else they are None.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from accelbench.harness.records import SCHEMA, RecordError

PLUGIN_SCHEMA = "accelbench.pytest-benchmark/1"
"""``extra_info["accelbench"]`` of every entry the accelbench pytest plugin writes."""


def is_pytest_benchmark_file(data: Any) -> bool:
    """A pytest-benchmark document: a ``benchmarks`` list and ``machine_info``."""
    return isinstance(data, dict) and isinstance(data.get("benchmarks"), list) and "machine_info" in data


def pytest_benchmark_format(path: Path, data: Any) -> list[dict[str, Any]] | None:
    """A ``reports.load`` format loader: the records of a pytest-benchmark
    document, or None when ``data`` is not one."""
    if not is_pytest_benchmark_file(data):
        return None
    return [_record(entry, entry["extra_info"], data, Path(path)) for entry in data["benchmarks"]
            if (entry.get("extra_info") or {}).get("accelbench") == PLUGIN_SCHEMA]


def records_from_pytest_benchmark(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The accelbench-like records (schema ``accelbench.result/1``) of one
    pytest-benchmark JSON file; RecordError names a file that is not one."""
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


def _record(entry: dict, info: dict, doc: dict, path: Path) -> dict[str, Any]:
    stats = entry.get("stats") or {}
    step_s = _step_stats(stats)
    commit = doc.get("commit_info") or {}
    machine = doc.get("machine_info") or {}
    passed = info.get("numerics_passed")
    return {
        "_case_id": info.get("case_id"),
        "schema": SCHEMA,
        "run_id": f"pytest-benchmark:{path.stem}",
        "created_at": doc.get("datetime"),
        "status": "ok" if step_s else "skipped",
        "error": None if step_s else {"type": "NotTimed", "message": "benchmarks were disabled in this pytest run"},
        "kernel": {
            "name": info.get("kernel"),
            "preset": info.get("preset"),
            "config": info.get("config") or {},
            "flops_per_step": info.get("flops_per_step"),
            "bytes_per_step": info.get("bytes_per_step"),
            "tokens_per_step": info.get("tokens_per_step"),
            "flop_convention": info.get("flop_convention"),
        },
        "backend": {
            "name": info.get("backend"),
            "framework": info.get("framework"),
            "device_kind": info.get("device"),
            "device_catalog_key": info.get("device_catalog_key"),
            "device_count": info.get("device_count", 1),
            "precision": info.get("precision"),
            "fence": info.get("fence"),
            "settings": info.get("backend_settings") or {},
        },
        "timing": {
            "compile_s": info.get("compile_s"),
            "warmup_steps": info.get("warmup_rounds"),
            "steps": stats.get("rounds"),
            "repeats": 1,
            "step_s": step_s,
            "samples_s": list(stats.get("data") or []),
        },
        "metrics": {
            "tokens_per_s": info.get("tokens_per_s"),
            "tflops": info.get("tflops"),
            "mfu": info.get("mfu"),
            "mfu_basis": info.get("mfu_basis"),
            "hbm_tbps": info.get("hbm_tbps"),
            "hbm_util": info.get("hbm_util"),
            "peak_mem_bytes": info.get("peak_mem_bytes"),
            "joules_per_token": None,
            "errors": list(info.get("metric_errors") or []),
        },
        "numerics": {
            "reference": info.get("numerics_reference"),
            "max_rel_err": info.get("numerics_max_rel_err"),
            "passed": passed,
            "loss_first": info.get("loss_first"),
            "loss_last": info.get("loss_last"),
        },
        "cost": None,
        "env": {
            "source": "pytest-benchmark",
            "pytest_benchmark_version": doc.get("version"),
            "python": machine.get("python_version"),
            "host": machine.get("node"),
            "cpu": (machine.get("cpu") or {}).get("brand_raw"),
            "git_commit": commit.get("id"),
            "test": entry.get("fullname"),
        },
    }


def _step_stats(stats: dict) -> dict[str, Any] | None:
    if not stats or stats.get("median") is None:
        return None
    out = {key: stats.get(key) for key in ("median", "mean", "min", "max", "stddev")}
    out["stdev"] = out.pop("stddev")
    out["p10"] = out["p90"] = out["ci95"] = None
    samples = stats.get("data")
    if samples:
        from accelbench.harness.stats import summarize

        full = summarize(samples)
        out.update(p10=full.p10, p90=full.p90, ci95=list(full.ci95))
    out["n"] = stats.get("rounds")
    return out


__all__ = ["PLUGIN_SCHEMA", "is_pytest_benchmark_file", "pytest_benchmark_format", "records_from_pytest_benchmark"]
