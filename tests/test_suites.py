"""The built-in suite files (harness/suites/*.toml) and suites given as paths."""

from __future__ import annotations

import json

import pytest

from accelbench import backends
from accelbench import kernels
from accelbench.harness import plan

ACCELERATOR_BACKENDS = {"torch-cuda", "torch-xla", "torch-neuron", "jax-gpu", "jax-tpu", "jax-neuron"}
"""The backend names the design card fixes for accelerators; a suite may list
them before their modules are registered, and records them `unavailable` where
their stack is missing."""
KNOWN_BACKENDS = ACCELERATOR_BACKENDS | {"torch-cpu", "jax-cpu"}


@pytest.mark.parametrize("name", ["smoke", "micro", "gpt2", "llama"])
def test_builtin_suite_is_listed_and_loads(name):
    assert name in plan.builtin_suites()
    suite = plan.load_suite(name)
    assert suite.description and suite.kernels and suite.backends


@pytest.mark.parametrize("name", plan.builtin_suites())
def test_builtin_suite_names_registered_kernels_presets_and_known_backends(name):
    suite = plan.load_suite(name)
    for spec in suite.kernels:
        kernel, preset = kernels.parse_spec(spec)  # KernelError on an unknown kernel or preset
        kernel.config(preset)
    assert set(suite.backends) <= KNOWN_BACKENDS | set(backends.names()), suite.backends
    registered = [b for b in suite.backends if b in backends.names()]
    # Settings, steps and timeouts validate against every kernel and the backends registered here.
    cases = plan.build_plan(name, [], registered or ["torch-cpu"], [])
    assert len(cases) == len(suite.kernels) * len(registered or ["torch-cpu"])
    assert all(c.steps == (suite.steps or plan.DEFAULT_STEPS) for c in cases)


def test_accelerator_suites_cover_what_the_brief_names():
    micro = {spec.split(":")[0] for spec in plan.load_suite("micro").kernels}
    assert micro >= {"gemm", "linear", "attention", "layernorm", "rmsnorm", "cross_entropy", "adamw", "mlp"}
    assert all(not spec.endswith(":tiny") for spec in plan.load_suite("micro").kernels)
    assert plan.load_suite("gpt2").kernels == ["gpt2:124m", "gpt2:350m", "gpt2:774m", "gpt2:1558m"]
    assert plan.load_suite("llama").kernels == ["llama:1b", "llama:3b", "llama:8b", "llama:8b-1layer", "llama:70b-1layer"]
    for name in ("micro", "gpt2", "llama"):
        assert set(plan.load_suite(name).backends) == ACCELERATOR_BACKENDS


def test_suites_command_lists_the_builtin_suites(cli):
    proc = cli("suites", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = {s["name"]: s for s in json.loads(proc.stdout)}
    assert set(listed) == set(plan.builtin_suites()) >= {"smoke", "micro", "gpt2", "llama"}
    assert listed["gpt2"]["kernels"] == plan.load_suite("gpt2").kernels


def test_suite_from_a_path_runs(cli, tmp_path):
    suite = tmp_path / "mine.toml"
    suite.write_text('description = "one GEMM"\nkernels = ["gemm:tiny"]\nbackends = ["torch-cpu"]\n'
                     "steps = 2\nwarmup = 0\nrepeats = 1\ntimeout = 120\n")
    out = tmp_path / "out"
    proc = cli("run", "--suite", suite, "--out", out, "--quiet")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr  # --quiet: nothing but errors
    (record,) = [json.loads(p.read_text()) for p in out.glob("gemm-*.json")]
    assert record["status"] == "ok" and record["timing"]["steps"] == 2 and record["timing"]["repeats"] == 1


@pytest.mark.parametrize("text, needle", [
    ('kernels = ["gemm:tiny"]\nbackends = ["torch-cpu"]\nrepeat = 2\n', "unknown key 'repeat'"),
    ('kernels = "gemm:tiny"\nbackends = ["torch-cpu"]\n', "'kernels' must be a non-empty list"),
    ('kernels = ["gemm:tiny"\n', "not valid TOML"),
])
def test_malformed_suite_file_is_one_clear_error(cli, tmp_path, text, needle):
    suite = tmp_path / "bad.toml"
    suite.write_text(text)
    out = tmp_path / "out"
    proc = cli("run", "--suite", suite, "--out", out)
    assert proc.returncode == 2
    assert proc.stderr.startswith("accelbench: error: ") and needle in proc.stderr
    assert not out.exists()
