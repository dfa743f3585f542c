"""The built-in suite files (harness/suites/*.toml) and suites given as paths."""

from __future__ import annotations

import json

import pytest

from accelbench import backends
from accelbench import kernels
from accelbench.harness import plan, suite_file

ACCELERATOR_BACKENDS = {"torch-cuda", "torch-xla", "torch-neuron", "jax-gpu", "jax-tpu", "jax-neuron"}
"""The backend names the design card fixes for accelerators; a suite may list
them before their modules are registered, and records them `unavailable` where
their stack is missing."""
KNOWN_BACKENDS = ACCELERATOR_BACKENDS | {"torch-cpu", "jax-cpu"}


@pytest.mark.parametrize("name", ["smoke", "micro", "gpt2", "llama"])
def test_builtin_suite_is_listed_and_loads(name):
    assert name in suite_file.builtin_suites()
    suite = suite_file.load_suite(name)
    assert suite.description and suite.kernels and suite.backends


@pytest.mark.parametrize("name", suite_file.builtin_suites())
def test_builtin_suite_names_registered_kernels_presets_and_known_backends(name):
    suite = suite_file.load_suite(name)
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
    micro = {spec.split(":")[0] for spec in suite_file.load_suite("micro").kernels}
    assert micro >= {"gemm", "linear", "attention", "layernorm", "rmsnorm", "cross_entropy", "adamw", "mlp"}
    assert all(not spec.endswith(":tiny") for spec in suite_file.load_suite("micro").kernels)
    assert suite_file.load_suite("gpt2").kernels == ["gpt2:124m", "gpt2:350m", "gpt2:774m", "gpt2:1558m"]
    assert suite_file.load_suite("llama").kernels == ["llama:1b", "llama:3b", "llama:8b", "llama:8b-1layer", "llama:70b-1layer"]
    for name in ("micro", "gpt2", "llama"):
        assert set(suite_file.load_suite(name).backends) == ACCELERATOR_BACKENDS


def test_suites_command_lists_the_builtin_suites(cli):
    proc = cli("suites", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = {s["name"]: s for s in json.loads(proc.stdout)}
    assert set(listed) == set(suite_file.builtin_suites()) >= {"smoke", "micro", "gpt2", "llama"}
    assert listed["gpt2"]["kernels"] == suite_file.load_suite("gpt2").kernels


@pytest.mark.slow
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


WHOLE_INSTANCE = {
    # suite: (backends, devices per node, catalog device, visible devices per chip)
    "whole-p5": ({"torch-cuda", "jax-gpu"}, 8, "h100-sxm", 1),
    "whole-trn2": ({"torch-neuron", "jax-neuron"}, 64, "trn2", 4),  # LNC=2: 4 logical NeuronCores per chip
    "whole-v6e-8": ({"jax-tpu"}, 8, "tpu-v6e", 1),
    "whole-trn1": ({"jax-neuron"}, 32, "trn1", 2),  # 2 NeuronCore-v2 per Trainium1
}


@pytest.mark.parametrize("name", sorted(WHOLE_INSTANCE))
def test_whole_instance_suites_shard_llama_8b_and_fit_each_device(name):
    """Each whole-instance suite runs llama:8b and gpt2:774m over every device
    of its instance with FSDP, and the per-device estimate behind the fit
    check is under one device's share of the chip's memory (devices.toml)."""
    from accelbench.facts import catalog
    from accelbench.harness import sharding

    backend_names, nproc, device, per_chip = WHOLE_INSTANCE[name]
    suite = suite_file.load_suite(name)
    assert set(suite.backends) == backend_names and suite.nproc == nproc
    assert suite.kernels == ["llama:8b", "gpt2:774m"] and suite.settings["shard"] == "fsdp"
    memory_gb = catalog.load_devices()[device].memory_gb
    cases = plan.build_plan(name, [], [], [])
    assert {c.layout.nproc for c in cases} == {nproc} and len(cases) == 2 * len(backend_names)
    for case in cases:
        assert case.backend_settings["shard"] == "fsdp" and case.kernel_settings["batch"] % nproc == 0
        estimate = sharding.case_device_memory(case).total_bytes
        assert estimate < memory_gb * 2**30 / per_chip * 0.95, (case.label, estimate / 2**30)  # GiB, the stricter reading


def test_suite_per_kernel_settings_yield_to_set(tmp_path):
    suite = tmp_path / "mine.toml"
    suite.write_text('description = "x"\nkernels = ["llama:tiny", "gpt2:tiny"]\nbackends = ["torch-cpu"]\nnproc = 2\n'
                     '[kernel_settings.llama]\nbatch = 4\n')
    llama, gpt2 = plan.build_plan(str(suite), [], [], [])
    assert (llama.kernel_settings, gpt2.kernel_settings, llama.layout.nproc) == ({"batch": 4}, {}, 2)
    llama, _ = plan.build_plan(str(suite), [], [], ["batch=8"])
    assert llama.kernel_settings == {"batch": 8}
    suite.write_text('description = "x"\nkernels = ["gpt2:tiny"]\nbackends = ["torch-cpu"]\n[kernel_settings.llama]\nbatch = 4\n')
    with pytest.raises(plan.PlanError, match="kernel_settings for 'llama', which the suite does not run"):
        plan.build_plan(str(suite), [], [], [])


def test_command_line_layout_keeps_the_suite_nproc_it_does_not_give():
    """A multi-node recipe gives --nnodes/--node-rank/--master-addr; the devices per node stay the suite's."""
    from types import SimpleNamespace

    from accelbench.harness.launch.layout_checks import layout_from_args

    cases = plan.build_plan("whole-p5", [], ["torch-cuda"], ["llama:batch=16"])  # 16 devices: one sequence each
    args = SimpleNamespace(nproc=None, nnodes=2, node_rank=1, master_addr="10.0.0.1", master_port=None, rdzv_endpoint=None)
    laid = layout_from_args(cases, args)
    assert {(c.layout.nproc, c.layout.nnodes, c.layout.node_rank, c.layout.master_addr) for c in laid} == {(8, 2, 1, "10.0.0.1")}
    assert all(c.case_id.endswith("--dp2x8") for c in laid)
