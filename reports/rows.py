"""One row of a report: the figures of one case (or one published reference
point), taken from its record and put on the footing a comparison needs:
throughput per chip, cost per million tokens, the ratio to the baseline with
a 95% interval, and the marks a reader must see beside them.

The ratio's interval is a percentile bootstrap over both cases' timed-step
samples (``harness.stats.ratio_of_medians_ci``), scaled by the work per
step and the chips of each; without samples, the stored 95% intervals give a
conservative one, and a published figure has none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

from accelbench.harness.record_schema import RECORD, Field
from accelbench.harness.cost import MARKS as PRICE_MARKS, UNCONFIRMED, WHAT_IF
from accelbench.facts import envinfo
from accelbench.reports import validate

MISSING = "–"
SOFTWARE_KEYS = ("software",) + envinfo.software_keys()  # "software": a published reference's own line


def dig(record: dict, dotted: "Field | str"):
    """A record field (``RECORD.metrics.mfu``: harness.record_schema, derived from the
    record's dataclasses) read as ``validate.get`` does, with NaN (a null field in the
    flattened frame) as None."""
    value = validate.get(record, dotted)
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@dataclass
class Row:
    record: dict
    label: str
    backend: str
    published: bool
    training: bool  # tokens per step (or a published figure): tokens/s, not TFLOP/s
    chip: str
    chips: float
    per_chip: float | None  # tokens/s per chip, or TFLOP/s per chip for micro kernels
    per_chip_ci: tuple[float, float] | None
    mfu: float | None
    cost: float | None
    cost_ci: tuple[float, float] | None
    marks: list[str] = field(default_factory=list)
    unstable: list[str] = field(default_factory=list)
    ratio: float | None = None
    ratio_ci: tuple[float, float] | None = None
    cost_ratio: float | None = None
    cost_ratio_ci: tuple[float, float] | None = None

    @cached_property
    def config(self) -> dict[str, str]:
        """Batch, sequence, precision and sharding as a reader compares them (``configuration``)."""
        return configuration(self.record)

    @property
    def samples(self) -> list[float]:
        raw = dig(self.record, RECORD.timing.samples_s) or []
        return [float(x) for x in raw if isinstance(x, (int, float)) and x > 0]

    @property
    def median(self) -> float | None:
        return dig(self.record, RECORD.timing.step_s.median)

    @property
    def step_ci(self) -> tuple[float, float] | None:
        return pair(dig(self.record, RECORD.timing.step_s.ci95))


def pair(value, scale: float = 1.0) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) for x in value):
        lo, hi = sorted(float(x) * scale for x in value)
        return lo, hi
    return None


def price_marks(record: dict) -> list[str]:
    """The price's marks: ``cost.marks`` as written, plus what-if for records
    written before marks existed that say the priced device is not the one run."""
    cost = record.get("cost") if isinstance(record.get("cost"), dict) else {}
    marks = [m for m in (cost.get("marks") or []) if isinstance(m, str)]
    if cost.get("device_matches") is False and WHAT_IF not in marks:
        marks.insert(0, WHAT_IF)
    if cost.get("confirmed") is False and UNCONFIRMED not in marks and cost.get("usd_per_mtok") is not None:
        marks.append(UNCONFIRMED)
    return marks


def chips_of(record: dict) -> float:
    """Chips the case used (devices × the chip share of one device: harness.metrics.chips_used)."""
    from accelbench.harness.metrics import chips_used

    return chips_used(record.get("backend") or {})


def make_row(record: dict, label: str) -> Row:
    published = bool(record.get("_published"))
    chips = chips_of(record)
    kind = dig(record, RECORD.backend.device_kind) or MISSING
    chip = f"{kind} ×{chips:g}" if chips != 1 else str(kind)
    tokens = dig(record, RECORD.kernel.tokens_per_step)
    step_ci = pair(dig(record, RECORD.timing.step_s.ci95))
    training = bool(tokens or published)
    if training:
        work = tokens
        per_chip = dig(record, RECORD.metrics.tokens_per_s)
        per_chip = per_chip / chips if per_chip is not None else None
    else:
        work = dig(record, RECORD.kernel.flops_per_step)
        tflops = dig(record, RECORD.metrics.tflops)
        per_chip = tflops / chips if tflops is not None else None
    per_chip_ci = None
    if work and step_ci and step_ci[0] > 0:
        scale = 1.0 if tokens else 1e-12
        per_chip_ci = (work * scale / step_ci[1] / chips, work * scale / step_ci[0] / chips)
    unstable = dig(record, RECORD.timing.unstable) or []
    return Row(record=record, label=label, backend=str(dig(record, RECORD.backend.name)), published=published,
               training=training, chip=chip, chips=chips, per_chip=per_chip,
               per_chip_ci=per_chip_ci, mfu=dig(record, RECORD.metrics.mfu), cost=dig(record, RECORD.cost.usd_per_mtok),
               cost_ci=pair(dig(record, RECORD.cost.usd_per_mtok_ci95)), marks=price_marks(record),
               unstable=[str(u) for u in unstable] if isinstance(unstable, list) else [])


def throughput_ratio(row: Row, other: Row) -> tuple[float | None, tuple[float, float] | None]:
    """``row``'s per-chip throughput ÷ ``other``'s, with a 95% interval: a bootstrap
    over both cases' timed-step samples, else (no samples) the stored intervals'
    extremes, else none. (None, None) when either has no throughput."""
    from accelbench.harness.stats import ratio_of_medians_ci

    if not row.per_chip or not other.per_chip:
        return None, None
    ratio = row.per_chip / other.per_chip
    if row is other:
        return ratio, (1.0, 1.0)
    if len(row.samples) >= 2 and len(other.samples) >= 2 and row.median and other.median:
        # per-chip throughput ∝ work ÷ (median × chips): the ratio moves with median(other) ÷ median(row)
        lo, hi = ratio_of_medians_ci(row.samples, other.samples, resamples=2000)
        middle = other.median / row.median
        return ratio, (ratio * lo / middle, ratio * hi / middle)
    if row.step_ci and other.step_ci and row.step_ci[0] > 0 and other.median and row.median:
        middle = other.median / row.median
        return ratio, (ratio * other.step_ci[0] / row.step_ci[1] / middle,
                       ratio * other.step_ci[1] / row.step_ci[0] / middle)
    return ratio, None


def cost_ratio(row: Row, other: Row, ratio: float | None, ratio_ci: tuple[float, float] | None
               ) -> tuple[float | None, tuple[float, float] | None]:
    """``row``'s cost ÷ ``other``'s; its interval from the throughput ratio's (cost ∝ price ÷ throughput)."""
    if row.cost is None or not other.cost:
        return None, None
    value = row.cost / other.cost
    if ratio and ratio_ci and ratio_ci[0] > 0:
        return value, (value * ratio / ratio_ci[1], value * ratio / ratio_ci[0])
    return value, None


def set_ratios(rows: list[Row], base: Row | None) -> None:
    """Each row's per-chip throughput and cost against ``base``'s, with 95% intervals."""
    if base is None or not base.per_chip:
        return
    for row in rows:
        if not row.per_chip:
            continue
        row.ratio, row.ratio_ci = throughput_ratio(row, base)
        row.cost_ratio, row.cost_ratio_ci = cost_ratio(row, base, row.ratio, row.ratio_ci)


def configuration(record: dict) -> dict[str, str]:
    """What a reader compares configurations by: batch, sequence, precision, sharding."""
    if record.get("_published"):
        ref = record["_published"]
        return {"batch": f"global {ref.global_batch}" if ref.global_batch else "not stated",
                "sequence": str(ref.sequence) if ref.sequence else "not stated",
                "precision": ref.precision, "sharding": "as published (see the caption)"}
    config = dig(record, RECORD.kernel.config) or {}
    shard = dig(record, RECORD.backend.info.key("parallel").key("shard")) or {}
    strategy = shard.get("strategy") if isinstance(shard, dict) else None
    devices = dig(record, RECORD.backend.device_count) or 1
    sharding = strategy if strategy and strategy != "none" else ("data-parallel" if devices > 1 else "none")
    return {"batch": str(config.get("batch", MISSING)), "sequence": str(config.get("seq_len", MISSING)),
            "precision": str(dig(record, RECORD.backend.precision) or MISSING), "sharding": sharding}


def software(record: dict) -> str:
    env = record.get("env") if isinstance(record.get("env"), dict) else {}
    return ", ".join(f"{k} {env[k]}" for k in SOFTWARE_KEYS if env.get(k)) or MISSING
