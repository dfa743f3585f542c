"""Markdown rendering of a results DataFrame."""

from __future__ import annotations

import math

COLUMNS = [
    ("kernel", "kernel.name"),
    ("preset", "kernel.preset"),
    ("backend", "backend.name"),
    ("device", "backend.device_kind"),
    ("precision", "backend.precision"),
    ("status", "status"),
    ("median step (ms)", "timing.step_s.median"),
    ("95% CI (ms)", "timing.step_s.ci95"),
    ("tokens/s", "metrics.tokens_per_s"),
    ("TFLOP/s", "metrics.tflops"),
    ("compile (s)", "timing.compile_s"),
    ("numerics", "numerics.passed"),
]


def _fmt(label: str, value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if label == "median step (ms)":
        return f"{value * 1e3:.3f}"
    if label == "95% CI (ms)":
        return f"{value[0] * 1e3:.3f}–{value[1] * 1e3:.3f}" if isinstance(value, (list, tuple)) else "–"
    if label == "numerics":
        return {True: "passed", False: "FAILED"}.get(value, "not checked")
    if isinstance(value, float):
        return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"
    return str(value).replace("|", "\\|")


def markdown(df, title: str = "accelbench results") -> str:
    lines = [f"# {title}", ""]
    if df.empty:
        return "\n".join(lines + ["No result records found.", ""])
    headers = [label for label, _ in COLUMNS]
    lines += ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    df = df.sort_values(["kernel.name", "kernel.preset", "backend.name"])
    for _, row in df.iterrows():
        cells = [_fmt(label, row.get(col)) for label, col in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    failures = df[df["status"] != "ok"]
    if not failures.empty:
        lines += ["", "## Cases that did not run cleanly", ""]
        for _, row in failures.iterrows():
            lines.append(f"- `{row['kernel.name']}:{row['kernel.preset']}` on `{row['backend.name']}`: "
                         f"{row['status']}: {row.get('error.type')}: {row.get('error.message')}")
    return "\n".join(lines) + "\n"
