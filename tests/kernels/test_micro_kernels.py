"""The micro kernels (linear, attention, layernorm, rmsnorm, cross_entropy,
adamw, mlp): both lowerings compute the same numbers as a float64 reference
and as each other, their analytic work scales as the formulas say, and bad
settings are refused clearly. Tiny presets only: a few seconds in all."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from accelbench import kernels
from accelbench.harness import numerics
from accelbench.harness.plan import PlanError, build_plan
from accelbench.kernels.base import KernelError
from accelbench.kernels.precision import policy

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")

MICRO = ["linear", "attention", "layernorm", "rmsnorm", "cross_entropy", "adamw", "mlp"]
CASES = [
    ("linear", {}),
    ("linear", {"bias": False}),
    ("attention", {}),
    ("layernorm", {}),
    ("rmsnorm", {}),
    ("cross_entropy", {}),
    ("adamw", {}),
    ("mlp", {"kind": "gelu"}),
    ("mlp", {"kind": "swiglu"}),
]
IDS = [name + "".join(f"-{k}={v}" for k, v in o.items()) for name, o in CASES]

FP32_REL = 1e-5
BF16_CROSS_REL = 1e-2
"""torch vs JAX in bf16: both round the same inputs to bf16; they differ in
where intermediate results are rounded (seen ≤ 5e-3 on the tiny presets)."""


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Tiny tensors: one intra-op thread is faster, and steadier on a busy CI machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _setup(name, overrides):
    kernel = kernels.get(name)
    cfg = kernel.config("tiny", overrides)
    return kernel, cfg, kernel.make_state(cfg)


_reference_cache: dict[str, dict[str, np.ndarray]] = {}


def _reference(case_id, kernel, cfg, state):
    if case_id not in _reference_cache:
        name, observed = numerics.reference_observables(kernel, cfg, state)
        assert name == "torch-cpu fp64"
        _reference_cache[case_id] = observed
    return _reference_cache[case_id]


def _run_torch(kernel, cfg, state, precision):
    program = kernel.torch_program(cfg, state, "cpu", precision)
    for _ in range(numerics.NUMERICS_STEPS):
        outputs = program.step()
    observed = program.observe()
    if "loss" in outputs:
        observed["loss"] = np.asarray(float(outputs["loss"]))
    return observed


def _run_jax(kernel, cfg, state, precision):
    program = kernel.jax_program(cfg, precision)
    step = jax.jit(program.step)
    current = program.init(state)
    for _ in range(numerics.NUMERICS_STEPS):
        current, outputs = step(current)
    return program.observe(current, outputs)


def _assert_close(observed, reference, tol, what):
    errors = numerics.group_errors(observed, reference)
    assert set(observed) == set(reference), what
    bad = {g: e for g, e in errors.items() if not e <= tol}
    assert not bad, f"{what}: relative error over {tol:g}: {bad}"


@pytest.mark.slow
@pytest.mark.parametrize("name,overrides", CASES, ids=IDS)
def test_lowerings_match_reference_and_each_other(name, overrides):
    kernel, cfg, state = _setup(name, overrides)
    pristine = {k: v.copy() for k, v in state.items()}
    reference = _reference(IDS[CASES.index((name, overrides))], kernel, cfg, state)
    observed = {}
    # adamw keeps fp32 state under the bf16 policy: its bf16 run would repeat the fp32 one.
    for precision in ("fp32",) if name == "adamw" else ("fp32", "bf16"):
        observed[("torch", precision)] = _run_torch(kernel, cfg, state, precision)
        observed[("jax", precision)] = _run_jax(kernel, cfg, state, precision)
    for (framework, precision), values in observed.items():
        tol = FP32_REL if precision == "fp32" else policy("bf16").tolerance
        _assert_close(values, reference, tol, f"{framework} {precision} vs fp64 reference")
    _assert_close(observed[("jax", "fp32")], observed[("torch", "fp32")], FP32_REL, "jax vs torch, fp32")
    if ("jax", "bf16") in observed:
        _assert_close(observed[("jax", "bf16")], observed[("torch", "bf16")], BF16_CROSS_REL, "jax vs torch, bf16")
    # No lowering may write into the numpy state every backend starts from.
    for key, value in pristine.items():
        np.testing.assert_array_equal(state[key], value, err_msg=f"state '{key}' was modified")


@pytest.mark.parametrize("name,overrides", CASES, ids=IDS)
def test_jax_float64_lowering_matches_torch_float64(name, overrides):
    """The JAX fp64 path (the reference where torch is absent) is the same math."""
    kernel, cfg, state = _setup(name, overrides)
    reference = _reference(IDS[CASES.index((name, overrides))], kernel, cfg, state)
    with jax.enable_x64(True):
        observed = _run_jax(kernel, cfg, state, "fp64")
    assert all(v.dtype == np.float64 for v in observed.values())
    if "loss" in reference:
        observed["loss"] = np.asarray(observed["loss"])
    _assert_close(observed, reference, 1e-12, "jax fp64 vs torch fp64")


def test_bf16_inputs_give_bf16_outputs():
    kernel, cfg, state = _setup("linear", {})
    program = kernel.torch_program(cfg, state, "cpu", "bf16")
    assert {t.dtype for t in program.step().values()} == {torch.bfloat16}
    jprog = kernel.jax_program(cfg, "bf16")
    _, outputs = jax.jit(jprog.step)(jprog.init(state))
    assert {str(a.dtype) for a in outputs.values()} == {"bfloat16"}


def test_gradients_do_not_accumulate_across_steps():
    kernel, cfg, state = _setup("mlp", {})
    program = kernel.torch_program(cfg, state, "cpu", "fp32")
    first = {k: v.clone() for k, v in program.step().items()}
    second = program.step()
    for key in first:
        torch.testing.assert_close(second[key], first[key], rtol=0, atol=0)


# ------------------------------------------------------------- analytic work
def _cfg(name, preset="tiny", **overrides):
    return kernels.get(name).config(preset, overrides)


@pytest.mark.parametrize("name", MICRO)
def test_every_preset_has_positive_flops_and_bytes(name):
    kernel = kernels.get(name)
    assert "tiny" in kernel.presets and len(kernel.presets) >= 3
    for preset in kernel.presets:
        cfg = kernel.config(preset)
        assert kernel.flops_per_step(cfg) > 0
        for precision in ("fp32", "bf16"):
            assert kernel.bytes_per_step(cfg, precision) > 0
            assert kernel.memory_estimate_bytes(cfg, precision) >= kernel.bytes_per_step(cfg, precision) * 4 / 7
        assert kernel.tokens_per_step(cfg) is None
        assert kernel.flop_convention in kernel.flops_by_convention(cfg)


def test_flops_and_bytes_scale_as_the_formulas_say():
    lin = kernels.get("linear")
    assert lin.flops_per_step(_cfg("linear", tokens=128)) == 2 * lin.flops_per_step(_cfg("linear", tokens=64))
    assert lin.flops_per_step(_cfg("linear")) == 6 * 64 * 64 * 96
    assert lin.bytes_per_step(_cfg("linear"), "bf16") == lin.bytes_per_step(_cfg("linear"), "fp32") / 2

    attn = kernels.get("attention")
    short, long_ = _cfg("attention", seq_len=64), _cfg("attention", seq_len=128)
    assert attn.flops_per_step(long_) == 4 * attn.flops_per_step(short)
    assert attn.bytes_per_step(long_) == 2 * attn.bytes_per_step(short)
    both = attn.flops_by_convention(_cfg("attention", "2k"))
    assert both["attention-causal-half"] == 6 * 8 * 16 * 2048**2 * 64
    assert both["attention-full-square"] == 2 * both["attention-causal-half"]

    for name in ("layernorm", "rmsnorm"):
        k = kernels.get(name)
        assert k.flops_per_step(_cfg(name, rows=128)) == 2 * k.flops_per_step(_cfg(name, rows=64))
    ln, rms = kernels.get("layernorm"), kernels.get("rmsnorm")
    assert rms.bytes_per_step(_cfg("rmsnorm")) < ln.bytes_per_step(_cfg("layernorm"))

    ce = kernels.get("cross_entropy")
    gpt2 = _cfg("cross_entropy", "gpt2")
    assert (gpt2.tokens, gpt2.vocab) == (16384, 50304)
    assert ce.bytes_per_step(gpt2, "fp32") == pytest.approx(2 * 16384 * 50304 * 4, rel=1e-3)
    assert (_cfg("cross_entropy", "llama3").vocab) == 128256

    adam = kernels.get("adamw")
    n = adam.n_params(_cfg("adamw", "350m"))
    assert 349e6 < n < 351e6
    assert adam.bytes_per_step(_cfg("adamw", "350m"), "bf16") == 28 * n  # fp32 state under every policy
    assert adam.flops_per_step(_cfg("adamw", n_tensors=8)) == 2 * adam.flops_per_step(_cfg("adamw", n_tensors=4))

    mlp = kernels.get("mlp")
    gelu, swiglu = _cfg("mlp", hidden=256), _cfg("mlp", hidden=256, kind="swiglu")
    assert mlp.flops_per_step(gelu) == 12 * 64 * 64 * 256
    assert mlp.flops_per_step(swiglu) == 1.5 * mlp.flops_per_step(gelu)
    assert _cfg("mlp", "llama3-8b").hidden == 14336


def test_make_state_is_deterministic():
    for name in MICRO:
        kernel = kernels.get(name)
        cfg = kernel.config("tiny")
        a, b, c = kernel.make_state(cfg, 0), kernel.make_state(cfg, 0), kernel.make_state(cfg, 1)
        assert a.keys() == b.keys()
        assert all(np.array_equal(a[k], b[k]) for k in a)
        assert any(not np.array_equal(a[k], c[k]) for k in a)


# ------------------------------------------------------------------ bad input
def test_unknown_mlp_kind_is_refused_naming_the_accepted_kinds():
    with pytest.raises(KernelError, match="unknown kind 'relu'.*accepted: gelu, swiglu"):
        kernels.get("mlp").config("tiny", {"kind": "relu"})
    with pytest.raises(PlanError, match="accepted: gelu, swiglu"):
        build_plan(None, ["mlp:tiny"], ["torch-cpu"], ["kind=relu"])


def test_unknown_preset_lists_the_accepted_ones():
    with pytest.raises(KernelError, match="accepted: tiny, gpt2, llama3"):
        kernels.get("cross_entropy").config("gpt3")


def test_importing_the_micro_kernels_imports_neither_torch_nor_jax():
    code = (
        "import sys\n"
        "from accelbench import kernels\n"
        f"for name in {MICRO!r}:\n"
        "    k = kernels.get(name); cfg = k.config('tiny'); k.make_state(cfg); k.flops_per_step(cfg)\n"
        "bad = [m for m in ('torch', 'jax') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
