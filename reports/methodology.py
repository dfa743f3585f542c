"""The methodology section, written from the records themselves: how each
case was fenced and timed, which FLOP convention and prices were used, what
was not measured, what software ran, and every case a reader must distrust
(numerics failed, recompiled while timed, MFU over 100%)."""

from __future__ import annotations

from dataclasses import dataclass, field

from accelbench.facts import envinfo
from accelbench.harness.cost import MARK_MEANING
from accelbench.harness.metrics import RECOMPUTE_NOTE
from accelbench.kernels.base import FLOP_CONVENTIONS
from accelbench.reports.rows import price_marks
from accelbench.reports.tables import cells, number, ok_rows, value

ENV_KEYS = envinfo.report_keys()


@dataclass
class Section:
    title: str
    items: list[str] = field(default_factory=list)


def _unique(df, column) -> list:
    if column not in df.columns:
        return []
    seen = []
    for v in df[column]:
        if v is None or (isinstance(v, float) and v != v) or v in seen:
            continue
        seen.append(v)
    return seen


def sections(df, warnings: list[str], baseline: str | None) -> list[Section]:
    if df.empty:
        return [Section("Files skipped", list(warnings))] if warnings else []
    ok = ok_rows(df)
    out = [
        _timing(ok, baseline),
        _fences(df),
        _flops(ok),
        _mfu_energy(ok),
        _prices(ok),
        _software(df),
    ]
    flags = _flags(df)
    if flags.items:
        out.insert(0, flags)
    if warnings:
        out.append(Section("Files skipped", list(warnings)))
    return out


def _timing(ok, baseline) -> Section:
    s = Section("Timing")
    s.items.append("Each case runs in its own process. The first step (which includes compilation) is timed "
                   "apart as the compile time; a few numerics-check steps and the warm-up steps follow, untimed; "
                   "then the timed windows.")
    s.items.append(_policy_paragraph(ok))
    s.items.append("Step time: the median over the windows of window time ÷ steps per window; 95% CI: percentile "
                   "bootstrap of that median (2,000 resamples, Efron & Tibshirani 1993). tokens/s = tokens per step "
                   "÷ median step time, its interval from the step-time interval.")
    combos = {}
    for r in cells(ok, "workload", "backend.name", "timing.steps", "timing.warmup_steps", "timing.repeats"):
        key = tuple(_whole(value(r, f"timing.{k}")) for k in ("steps", "warmup_steps", "repeats"))
        combos.setdefault(key, []).append(r)
    for (steps, warmup, repeats), rows in sorted(combos.items(), key=lambda kv: str(kv[0])):
        who = "all cases" if len(combos) == 1 else ", ".join(sorted({f"{r['workload']} on {r['backend.name']}" for r in rows}))
        s.items.append(f"{who}: {repeats} timed windows of {steps} steps; warm-up steps: {warmup}.")
    if baseline:
        s.items.append(f"× {baseline} = this case's tokens/s per chip ÷ {baseline}'s (TFLOP/s per chip for micro "
                       f"kernels; above 1: more per chip than {baseline}); its 95% interval is a percentile bootstrap "
                       "of the ratio of the two median step times, both sets of samples resampled (2,000 times). "
                       "The summary's cost ratios move with it: cost ∝ price per chip-hour ÷ tokens/s per chip.")
    s.items.append("A row marked UNSTABLE was flagged by the timing checks (timing.unstable: e.g. a busy machine, "
                   "a drifting clock); its figures are shown but not to be trusted.")
    return s


def _policy_paragraph(ok) -> str:
    """The timing policy as the records state it (``timing.policy``, written by harness.timing)."""
    audits = _unique(ok, "timing.policy.fence_audit")
    memory = _unique(ok, "timing.policy.peak_memory")
    text = ("Timing policy: every backend is timed the same way, in windows of k steps with one completion fence "
            "after the window's last step, so the host may run ahead of the device within a window as in "
            "training; the window is the host clock from the first launch to the fence's return. k steps each "
            "fenced on their own are kept in the records as a diagnostic (fenced_samples_s). At least 10 windows "
            "make the interval meaningful; cases with fewer, a wide interval, two clusters of step times or load "
            "from other processes are flagged unstable.")
    if audits:
        text += f" Fence audit: {audits[0]}."
    if memory:
        text += f" Peak memory: {memory[0]}."
    return text


def _whole(v):
    """A count as the record holds it (a frame with published rows turns the column to floats)."""
    return int(v) if isinstance(v, float) and v.is_integer() else v


def _fences(df) -> Section:
    s = Section("Completion fences")
    pairs = sorted({(str(r["backend.name"]), str(value(r, "backend.fence") or "not recorded")) for r in cells(df, "backend.name", "backend.fence")})
    s.items += [f"{name}: {fence}" for name, fence in pairs]
    return s


def _flops(ok) -> Section:
    s = Section("FLOP convention")
    for workload in sorted(set(ok["workload"])) if not ok.empty else []:
        rows = ok[ok["workload"] == workload]
        for c in _unique(rows, "kernel.flop_convention") or [None]:
            if c is None:
                s.items.append(f"{workload}: FLOP convention not recorded")
            else:  # the words live with the conventions, in kernels/base.py
                described = FLOP_CONVENTIONS.get(c, "a convention this version of accelbench does not describe")
                s.items.append(f"{workload}: {c}: {described}")
    s.items.append("TFLOP/s = FLOP per step ÷ median step time ÷ 10¹²; MFU = that ÷ the device's dense peak "
                   "for the precision used (never a sparse peak).")
    remat = sorted(set(ok[ok["kernel.config.remat"] == True]["workload"])) if "kernel.config.remat" in ok else []  # noqa: E712
    s.items.append(f"Recomputation: {RECOMPUTE_NOTE}" + (f" (remat on: {', '.join(remat)})." if remat else "."))
    return s


def _mfu_energy(ok) -> Section:
    s = Section("MFU and energy")
    if ok.empty:
        return s
    for metric, label, reason_column, default in (
        ("metrics.mfu", "MFU", "metrics.mfu_basis.reason", "no peak FLOP/s in the device catalog for that device and precision"),
        ("metrics.joules_per_token", "Energy", "metrics.energy.reason", "no power readings over the timed window"),
    ):
        missing: dict[str, list[str]] = {}
        for r in cells(ok, metric, reason_column, "workload", "backend.name"):
            if value(r, metric) is None:
                missing.setdefault(str(value(r, reason_column) or default), []).append(f"{r['workload']} on {r['backend.name']}")
        for reason, who in sorted(missing.items()):
            reason = reason.removeprefix("not measured: ").removeprefix("not measured")
            s.items.append(f"{label} not measured for {', '.join(sorted(set(who)))}: {reason}")
    bases = set()
    basis = [f"metrics.mfu_basis.{k}" for k in ("peak_tflops_per_chip", "device", "precision", "chips", "source",
                                                "as_of", "peak_confirmed")]
    for r in cells(ok, "metrics.mfu", "backend.name", *basis):
        peak = value(r, "metrics.mfu_basis.peak_tflops_per_chip")
        if value(r, "metrics.mfu") is not None and peak is not None:
            bases.add(f"MFU of {r['backend.name']} divided by {number(peak)} TFLOP/s per chip "
                      f"({value(r, 'metrics.mfu_basis.device')}, {value(r, 'metrics.mfu_basis.precision')}, "
                      f"{value(r, 'metrics.mfu_basis.chips')} chip(s)); source: {value(r, 'metrics.mfu_basis.source')}, "
                      f"as of {value(r, 'metrics.mfu_basis.as_of')}"
                      + ("" if value(r, "metrics.mfu_basis.peak_confirmed") is not False else "; peak UNCONFIRMED"))
    s.items += sorted(bases)
    if not s.items:
        s.items.append("MFU and joules per token measured for every case.")
    return s


def _prices(ok) -> Section:
    s = Section("Prices")
    if ok.empty:
        return s
    priced, unpriced = [], []
    for r in cells(ok, "workload", "backend.name", *(f"cost.{k}" for k in (
            "usd_per_mtok", "chips_priced", "instance", "usd_per_hour", "source", "as_of", "confirmed", "notes",
            "withheld"))):
        (priced if value(r, "cost.usd_per_mtok") is not None else unpriced).append(r)
    sources = set()
    for r in priced:
        chips = value(r, "cost.chips_priced")
        sources.add(f"{value(r, 'cost.instance') or 'user price'}: ${number(value(r, 'cost.usd_per_hour'))}/hour"
                    + (f" for {chips} chip(s)" if chips else "")
                    + f"; source: {value(r, 'cost.source') or 'not recorded'}; as of {value(r, 'cost.as_of') or 'unknown date'}"
                    + ("; price UNCONFIRMED" if value(r, "cost.confirmed") is False else "")
                    + "".join(f"; {note}" for note in (value(r, "cost.notes") or []) if isinstance(note, str)))
    s.items += sorted(sources)
    if priced:
        s.items.append("$/1M tokens = price per hour ÷ (tokens/s × 3,600) × 10⁶; its interval from the step-time interval.")
    withheld = [r for r in unpriced if value(r, "cost.withheld")]  # priced, but a fact the price needs is unknown
    unpriced = [r for r in unpriced if not value(r, "cost.withheld")]
    if withheld:
        s.items.append("price withheld: " + "; ".join(sorted({f"{r['workload']} on {r['backend.name']}: "
                                                               f"{value(r, 'cost.withheld')}" for r in withheld})))
    if unpriced:
        names = sorted({f"{r['workload']} on {r['backend.name']}" for r in unpriced})
        s.items.append("no price for: " + ", ".join(names) + " (pass --instance or --usd-per-hour to `accelbench run`)")
    return s


def _software(df) -> Section:
    s = Section("Software and hosts")
    for key in ENV_KEYS:
        values = _unique(df, f"env.{key}")
        if values:
            s.items.append(f"{key}: {', '.join(str(v) for v in values)}")
    return s


def _flags(df) -> Section:
    s = Section("Flagged cases: read these figures with care")
    for r in cells(df, "workload", "backend.name", "case_id", "numerics.passed", "numerics.max_rel_err",
                   "numerics.reference", "numerics.tolerance", "backend.info.recompiled_during_timing", "metrics.mfu",
                   "metrics.errors", "timing.unstable", "record", "cost.usd_per_mtok"):
        who = f"{r['workload']} on {r['backend.name']} ({r['case_id']})"
        if value(r, "numerics.passed") is False:
            s.items.append(f"{who}: numerics FAILED: max relative error {number(value(r, 'numerics.max_rel_err'))} "
                           f"against {value(r, 'numerics.reference')}, tolerance {number(value(r, 'numerics.tolerance'))}")
        if value(r, "backend.info.recompiled_during_timing") is True:
            s.items.append(f"{who}: recompiled during the timed steps; its step times include compilation")
        mfu = value(r, "metrics.mfu")
        if mfu is not None and mfu > 1:
            s.items.append(f"{who}: MFU {mfu * 100:.3g}% is over 100%: the peak or the FLOP count is wrong")
        errors = value(r, "metrics.errors")
        for error in errors if isinstance(errors, list) else []:
            s.items.append(f"{who}: {error}")
        unstable = value(r, "timing.unstable")
        if isinstance(unstable, list) and unstable:
            s.items.append(f"{who}: timing UNSTABLE: {', '.join(map(str, unstable))}")
        marks = price_marks(r["record"]) if "record" in r else []
        if marks and value(r, "cost.usd_per_mtok") is not None:
            meaning = "; ".join(f"{m}: {MARK_MEANING[m]}" for m in marks if m in MARK_MEANING)
            s.items.append(f"{who}: its price is {', '.join(marks)} ({meaning})")
    return s


def published(df) -> list[Section]:
    """Where the published rows come from and how they were costed."""
    rows = df[df["published"]] if not df.empty and "published" in df.columns else df
    if rows.empty:
        return []
    s = Section("Published reference points")
    s.items.append("Rows labelled 'published' are figures other people measured and published "
                   "(facts/data/references.toml), not runs of accelbench; they are costed with the same price "
                   "catalog as ours (price per chip-hour of the instance named ÷ tokens/s per chip) and hatched "
                   "in plots. They carry no interval: the sources give none.")
    for r in cells(rows, "record"):
        ref = r["record"]["_published"]
        s.items.append(f"{ref.workload} on {ref.hardware} ({ref.framework}): {number(ref.tokens_per_s_per_chip)} "
                       f"tokens/s per chip over {ref.chips} chips, {ref.precision}; {ref.configuration}"
                       + (f"; {ref.derived}" if ref.derived else "") + f"; source: {ref.source}, {ref.as_of}"
                       + ("" if ref.confirmed else "; UNCONFIRMED") + (f"; {ref.note}" if ref.note else ""))
    return [s]


def training_job(tokens: float) -> Section:
    """What `report --train-tokens` includes and leaves out (reports/training_cost.py)."""
    from accelbench.reports.training_cost import tokens_text

    return Section(f"Training job cost ({tokens_text(tokens)} tokens)", [
        "Training time = tokens ÷ the measured tokens/s (the chips the case measured); its interval is the step "
        "time's 95% interval. Cost = the record's charged $/h × (time before the first timed step + training time).",
        "Included before the first timed step, as recorded: process start to compile (timing.setup_s: imports, "
        "device setup, initial state; read from /proc, absent off Linux and in records before it), compile and "
        "first step (timing.compile_s), warm-up steps (counted at the median step time). Each is one measurement "
        "per record, with no interval.",
        "Not included: data loading and preprocessing, checkpoints, evaluation, the numerics-check steps, restarts "
        "after failures, instance boot and image pull, and idle instance time outside the case process.",
        "A compile cache makes a second run's compile cheaper: backend.info.compile_cache records which of "
        "NEURON_COMPILE_CACHE_URL, JAX_COMPILATION_CACHE_DIR, TORCHINDUCTOR_CACHE_DIR and "
        "TORCHINDUCTOR_FX_GRAPH_CACHE were set. A cache a framework keeps by default, without a variable, is "
        "not seen, so a short compile may be a warm one.",
        "Break-even: N* = (cost before the first step of A − of B) ÷ (B's − A's cost per token), for A cheaper per "
        "token but dearer to start; above N* tokens A is the cheaper job.",
    ])


def workload_differences(records: list[dict]) -> Section | None:
    """Where cases of one workload ran different settings (the whole-instance suites' flagship, or --set):
    each differing key with its values and the cases that ran them; None when every workload ran alike."""
    from accelbench.reports.training_cost import case_label

    items = []
    by_workload: dict[str, list[dict]] = {}
    for r in records:
        kernel = r.get("kernel") or {}
        if r.get("status") == "ok" and not r.get("_published") and isinstance(kernel.get("config"), dict):
            by_workload.setdefault(f"{kernel.get('name')}:{kernel.get('preset')}", []).append(r)
    for workload, group in by_workload.items():
        values = [{**r["kernel"]["config"], "tokens per step": r["kernel"].get("tokens_per_step")} for r in group]
        for key in sorted({k for v in values for k in v}):
            seen: dict[str, list[str]] = {}
            for r, v in zip(group, values):
                seen.setdefault(str(v.get(key)), []).append(case_label(r))
            if len(seen) > 1:
                items.append(f"{workload}: {key} differs: " + "; ".join(
                    f"{value} ({', '.join(cases)})" for value, cases in seen.items()))
    return Section("Same workload, different settings", items) if items else None
