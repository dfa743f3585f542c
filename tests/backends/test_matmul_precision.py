"""The precision decision on Neuron per neuronx-cc version (backends/matmul_precision.py):
the flags are always given, so what runs never rests on the compiler's default, which is recorded."""

from __future__ import annotations

import pytest

from accelbench.backends import matmul_precision as mp

# (version, default --auto-cast, fp32 matmuls without a flag run in)
DEFAULTS = [
    ("2.14.227.0", "matmult", "bf16"),   # 2024 (a compile cache names this version with --auto-cast=none given)
    ("2.20.2831.0", "matmult", "bf16"),  # 07/2025: announces the coming change
    ("2.15.54.0", None, None),           # documented as Neuron 2.27's compiler: ambiguous
    ("2.22.100.0", None, None),          # between the documented points
    ("2.24.5133.0", "none", "fp32"),     # Neuron 2.29
    ("2.28.7631.0", "none", "fp32"),     # Neuron 2.33
    ("2.28.7631.0+abc", "none", "fp32"),
    ("junk", None, None),
    (None, None, None),
]


@pytest.mark.parametrize("version, auto_cast, runs_in", DEFAULTS)
def test_the_compiler_default_per_version(version, auto_cast, runs_in):
    default = mp.neuronx_cc_default(version)
    assert (default.auto_cast, default.fp32_matmuls_run_in) == (auto_cast, runs_in)
    assert default.reason


@pytest.mark.parametrize("version", [v for v, _, _ in DEFAULTS])
@pytest.mark.parametrize("precision, effective, flags", [
    ("fp32", "fp32", "--auto-cast=none"),
    ("tf32", "tf32", "--auto-cast=matmult --auto-cast-type=tf32"),
    ("bf16", "bf16", None),
])
def test_what_runs_does_not_depend_on_the_default(version, precision, effective, flags):
    plan = mp.plan("neuron", precision, neuronx_cc_version=version)
    assert (plan.effective, plan.neuron_cc_flag) == (effective, flags)
    assert plan.to_dict()["compiler_default"] == mp.neuronx_cc_default(version).reason


def test_tf32_flags_replace_a_users_auto_cast_and_type():
    flags = mp.with_neuron_flag("--cache_dir=/c --auto-cast matmult --auto-cast-type bf16 -O1", mp.NEURON_TF32_FLAGS)
    assert flags == "--cache_dir=/c -O1 --auto-cast=matmult --auto-cast-type=tf32"
    environ = {"NEURON_CC_FLAGS": "--auto-cast-type=fp16"}
    mp.export_neuron_flag(mp.plan("neuron", "fp32"), environ)
    assert environ == {"NEURON_CC_FLAGS": "--auto-cast=none"}


def test_mfu_divides_by_the_effective_precisions_peak_on_trn1():
    """trn1: TF32 peak = BF16 peak (190), FP32 47.5: tf32 run at 47.5 TFLOP/s on a whole chip is 25%, not 100%."""
    from accelbench.harness import metrics
    from accelbench.facts.catalog import load_devices
    from accelbench.harness.records import BackendPart, KernelPart, MetricsPart

    kernel = KernelPart(name="gemm", preset="x", config={})
    for precision, expected in (("tf32", 47.5 / 190), ("fp32", 1.0)):
        backend = BackendPart(name="torch-xla", framework="torch", device_catalog_key="trn1", precision=precision,
                              info={"matmul_precision": mp.plan("neuron", precision).to_dict()})
        rated = metrics.with_catalog_utilization(MetricsPart(tflops=47.5), kernel, backend, load_devices())
        assert rated.mfu == pytest.approx(expected) and rated.mfu_basis["precision"] == precision


def test_torch_neuron_eager_marks_its_flagged_precision_assumed():
    from accelbench.backends.torch_neuron import NeuronSettings, TorchNeuronBackend
    from accelbench.harness import metrics
    from accelbench.facts.catalog import load_devices
    from accelbench.harness.records import BackendPart, KernelPart, MetricsPart

    eager = TorchNeuronBackend(NeuronSettings(precision="fp32")).matmul_plan
    compiled = TorchNeuronBackend(NeuronSettings(precision="fp32", compile=True)).matmul_plan
    bf16 = TorchNeuronBackend(NeuronSettings(precision="bf16")).matmul_plan
    assert eager.assumed and "eager" in eager.assumed and compiled.assumed is None and bf16.assumed is None
    part = BackendPart(name="torch-neuron", framework="torch", device_catalog_key="trn2", precision="fp32",
                       info={"device": {"chip_share": 0.25}, "matmul_precision": eager.to_dict()})
    rated = metrics.with_catalog_utilization(MetricsPart(tflops=10.0), KernelPart(name="gemm", preset="x", config={}),
                                             part, load_devices())
    assert rated.mfu_basis["precision_assumed"] == eager.assumed
