"""A case's time from physics, for ``accelbench run --dry-run``: what the sweep would cost before renting.

    step_s   = FLOP per step / (catalog dense peak x chips x MFU)
    case_s   = compile guess + step_s x (warm-up + timed steps + one audit window)

* the device: the priced instance's accelerator (``--instance``; a dry-run runs nothing, so nothing else
  says which chip the backend would find); chips = devices x each device's share of a chip
  (``backends.chip_share``: a trn2 logical NeuronCore at the default LNC=2 is 1/4 chip);
* the peak: ``devices.toml`` for the case's precision (bf16 when the case sets none of the catalog's);
* the MFU: what the published references (``references.toml``) reach on that chip for the same kernel
  (their stated MFU, else their tokens/s per chip x this kernel's FLOP per token at their sequence length
  ÷ the peak), else ``ASSUMED_MFU``; the output says which;
* the compile: ``COMPILE_GUESS_S`` by backend, a guess and labelled one, unless an earlier record of the
  case measured it.

Every figure is an estimate; ``dryrun`` bounds it by the case's time limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelbench.harness.plan import Case

ASSUMED_MFU = 0.35
"""Used when no published reference gives the chip's MFU: said in the output as assumed."""
COMPILE_GUESS_S = {"torch-cpu": 5.0, "jax-cpu": 10.0, "torch-cuda": 60.0, "jax-gpu": 120.0, "jax-tpu": 180.0,
                   "torch-xla": 300.0, "torch-neuron": 1800.0, "jax-neuron": 1800.0}
"""A GUESS of the first compile per backend, in seconds (neuronx-cc takes minutes to an hour on large
graphs); printed as a guess. A measured compile_s of an earlier record replaces it."""
DEFAULT_COMPILE_GUESS_S = 300.0


@dataclass(frozen=True)
class Physics:
    step_s: float
    compile_s: float
    compile_basis: str
    steps: int
    mfu: float
    mfu_basis: str
    chips: float
    device: str

    @property
    def seconds(self) -> float:
        return self.compile_s + self.step_s * self.steps


def device_of(case: Case) -> str | None:
    """The catalog device the case would run on, from its priced instance; None when not priced."""
    if not case.instance:
        return None
    from accelbench.facts.catalog import find, load_prices

    price = find(load_prices(case.prices_file), case.instance)
    return price.accelerator if price else None


def chip_share(device: str) -> float:
    """One framework device's share of a chip, with no host to read (catalog cores, default LNC)."""
    from accelbench.backends import chip_share as shares

    if device.startswith("trn"):
        return shares.for_neuron(device, None, None, None).share
    if device.startswith("tpu"):
        return shares.for_tpu(device, None).share
    return 1.0


def _flops_and_tokens(kernel_name: str, preset: str, settings: dict) -> tuple[float | None, float | None]:
    from accelbench import kernels

    kernel = kernels.get(kernel_name)
    cfg = kernel.config(preset, settings)
    return kernel.flops_per_step(cfg), kernel.tokens_per_step(cfg)


def reference_mfu(device: str, case: Case, precision: str, peak_tflops: float) -> tuple[float, str] | None:
    """The MFU a published reference reached on ``device`` for this kernel, and where it comes from."""
    from accelbench.harness.references import load_references

    for ref in load_references().values():
        if ref.hardware != device or ref.workload.split(":")[0] != case.kernel:
            continue
        if ref.mfu:
            return ref.mfu, f"published: {ref.key} states MFU {ref.mfu:.1%} ({ref.mfu_convention or 'its FLOP count'})"
        preset = ref.workload.split(":")[1]
        flops, tokens = _flops_and_tokens(case.kernel, preset, {"seq_len": ref.sequence} if ref.sequence else {})
        if flops and tokens:
            mfu = ref.tokens_per_s_per_chip * flops / tokens / (peak_tflops * 1e12)
            return mfu, (f"published: {ref.key}, {ref.tokens_per_s_per_chip:g} tokens/s per chip x this kernel's "
                         f"FLOP per token ÷ the {precision} peak = {mfu:.1%}")
    return None


def physics(case: Case, earlier_compile_s: float | None = None) -> Physics | str:
    """The estimate, or why there is none (one line)."""
    from accelbench.facts.catalog import load_devices

    device = device_of(case)
    if device is None:
        return "no device to take a peak from (give --instance NAME: its accelerator is the device)"
    spec = load_devices().get(device)
    precision = str(case.backend_settings.get("precision", "bf16"))
    peak = (spec.peak_tflops.get(precision) or spec.peak_tflops.get("bf16")) if spec else None
    if not peak:
        return f"{device}: no {precision} peak in the catalog"
    flops, _ = _flops_and_tokens(case.kernel, case.preset, case.kernel_settings)
    if not flops:
        return f"{case.kernel}: no FLOP count"
    found = reference_mfu(device, case, precision, peak)
    mfu, mfu_basis = found if found else (ASSUMED_MFU, f"assumed {ASSUMED_MFU:.0%} (no published reference for "
                                                       f"{case.kernel} on {device})")
    chips = case.layout.devices * chip_share(device)
    if earlier_compile_s is not None:
        compile_s, compile_basis = earlier_compile_s, "measured by an earlier record"
    else:
        compile_s = COMPILE_GUESS_S.get(case.backend, DEFAULT_COMPILE_GUESS_S)
        compile_basis = f"a guess for {case.backend}"
    steps = case.warmup + case.steps * case.repeats + case.steps  # + one audit window
    return Physics(flops / (peak * 1e12 * chips * mfu), compile_s, compile_basis, steps, mfu, mfu_basis, chips, device)


def layout_fit_problem(case: Case, estimate_bytes: float | None) -> str | None:
    """What ``run`` would skip the case for: the host's memory (CPU backends, the runner's check), else the
    device's share of its chip's catalog memory (the in-process check); None: it would be tried."""
    from accelbench import backends
    from accelbench.harness import fit
    from accelbench.facts.catalog import load_devices
    from accelbench.harness.runner import host_fit_problem

    if not case.check_fit:
        return None
    if getattr(backends.get_class(case.backend), "memory_is_host", False):
        return host_fit_problem(case)
    device = device_of(case)
    spec = load_devices().get(device) if device else None
    if spec is None or device is None:
        return None
    per_device = int(spec.memory_gb * 2**30 * chip_share(device))
    return fit.wont_fit_reason(estimate_bytes, per_device, f"one {device} device ({chip_share(device):g} chip)")
