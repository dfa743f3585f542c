"""Scaling efficiency of a data-parallel record against a one-device record
of the same case in the same results folder (the runner calls
``annotate_scaling`` after each case)."""

from __future__ import annotations

from pathlib import Path

from accelbench.harness.records import load_record, record_files


def annotate_scaling(data: dict, folder: Path) -> None:
    """Add ``backend.info.parallel.scaling`` to an ok data-parallel record:
    efficiency = tokens/s on N devices ÷ (N × tokens/s of a one-device ok record
    of the same kernel, preset, backend and settings in ``folder``). The
    baseline's batch is the per-device batch (weak scaling, preferred) or the
    same global batch (strong scaling); 1.0 is perfect scaling."""
    info = (data.get("backend") or {}).get("info", {}).get("parallel")
    tokens_per_s = (data.get("metrics") or {}).get("tokens_per_s")
    if data.get("status") != "ok" or not isinstance(info, dict) or not tokens_per_s:
        return
    found: dict[str, tuple[str, float]] = {}
    for path in record_files(folder):
        try:
            other = load_record(path)
        except Exception:  # an unreadable neighbour is not this record's business
            continue
        kind = _baseline_kind(data, other, info)
        if kind and kind not in found:
            found[kind] = (path.name, other["metrics"]["tokens_per_s"])
    for kind in ("weak", "strong"):
        if kind in found:
            name, base = found[kind]
            info["scaling"] = {"kind": kind, "baseline": name, "baseline_tokens_per_s": base,
                               "efficiency": tokens_per_s / (info["devices"] * base)}
            return
    info["scaling"] = {"efficiency": None, "reason": "no one-device ok record of this case in the results folder"}


def _baseline_kind(data: dict, other: dict, info: dict) -> str | None:
    ob, db = other.get("backend") or {}, data["backend"]
    if other.get("status") != "ok" or ob.get("device_count", 1) != 1 or "parallel" in (ob.get("info") or {}):
        return None
    def unsharded(settings):  # a one-device run has no shard setting to match: shard=fsdp scales against it
        return {k: v for k, v in (settings or {}).items() if k != "shard"}

    if (other["kernel"].get("name"), other["kernel"].get("preset"), ob.get("name"), unsharded(ob.get("settings"))) != (
            data["kernel"].get("name"), data["kernel"].get("preset"), db.get("name"), unsharded(db.get("settings"))):
        return None
    mine, theirs = dict(data["kernel"].get("config") or {}), dict(other["kernel"].get("config") or {})
    batch = theirs.pop("batch", None)
    mine.pop("batch", None)
    if mine != theirs or not (other.get("metrics") or {}).get("tokens_per_s"):
        return None
    return {info["per_device_batch"]: "weak", info["global_batch"]: "strong"}.get(batch)


