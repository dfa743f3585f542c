"""How the report writes a figure: three significant figures, thousands
separated, an interval in brackets, "–" for a figure that is absent."""

from __future__ import annotations

import math

from accelbench.reports.rows import MISSING, pair

__all__ = ["number", "with_interval", "percent", "nbytes", "pair", "MISSING"]


def number(v, digits: int = 3) -> str:
    """Three significant figures, thousands separated: 1,234,567 / 12.3 / 0.00123."""
    if v is None:
        return MISSING
    v = float(v)
    if not math.isfinite(v):
        return str(v)
    if v == 0:
        return "0"
    if abs(v) >= 10 ** digits:
        return f"{v:,.0f}"
    return f"{v:.{digits}g}"


def with_interval(v, ci: tuple[float, float] | None, suffix: str = "") -> str:
    if v is None:
        return MISSING
    if ci is None:
        return f"{number(v)}{suffix}"
    return f"{number(v)}{suffix} ({number(min(ci))}–{number(max(ci))})"


def percent(v) -> str:
    if v is None:
        return MISSING
    text = f"{float(v) * 100:.3g}%"
    return text + " (over 100%: an error)" if v > 1 else text


def nbytes(v) -> str:
    if v is None:
        return MISSING
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if v >= size:
            return f"{number(v / size)} {unit}"
    return f"{number(v)} B"
