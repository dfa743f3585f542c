"""`accelbench kernels [--json]`: every kernel, its presets and its lowerings."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from accelbench import kernels
from accelbench.harness import cli as cli_module
from accelbench.kernels.base import Kernel, Preset, TorchProgram


def test_kernels_json_lists_every_kernel_with_presets_and_lowerings(cli):
    proc = cli("kernels", "--json")
    assert proc.returncode == 0, proc.stderr
    listed = {d["name"]: d for d in json.loads(proc.stdout)}
    assert sorted(listed) == sorted(kernels.names())
    for name, d in listed.items():
        kernel = kernels.get(name)
        assert "tiny" in d["presets"], name
        assert set(d["presets"]) == set(kernel.presets), name
        for preset, desc in d["presets"].items():
            assert desc["config"] == json.loads(json.dumps(vars(kernel.config(preset)))), (name, preset)
        assert d["lowerings"] == {"torch": True, "jax": True}, f"{name}: {d['lowerings']}"
        assert d["flop_convention"] == kernel.flop_convention


def test_kernels_text_lists_every_kernel(cli):
    proc = cli("kernels")
    assert proc.returncode == 0, proc.stderr
    first_words = {line.split()[0] for line in proc.stdout.splitlines() if line and not line[0].isspace()}
    assert set(kernels.names()) <= first_words
    assert "llama" in proc.stdout and "8b-1layer" in proc.stdout and "70b-1layer" in proc.stdout


class _TorchOnly(Kernel):
    """A kernel with a torch lowering only, to see that listings say so."""

    name = "torch_only"
    description = "test kernel without a JAX lowering"
    config_cls = type(kernels.get("gemm").config("tiny"))
    presets = {"tiny": Preset("tiny", {}, "test")}

    def flops_per_step(self, cfg) -> float:
        return 0.0

    def torch_program(self, cfg, state, device, precision, wrap=None) -> TorchProgram:
        raise AssertionError("listing must not lower the kernel")


@pytest.fixture
def torch_only_registered(monkeypatch):
    monkeypatch.setitem(kernels._MODULES, "torch_only", (__name__, "_TorchOnly"))
    monkeypatch.setitem(kernels._cache, "torch_only", _TorchOnly())


def test_a_missing_lowering_is_stated(torch_only_registered, capsys):
    assert kernels.get("torch_only").lowerings() == {"torch": True, "jax": False}
    assert cli_module.main(["kernels", "--json"]) == 0
    listed = {d["name"]: d for d in json.loads(capsys.readouterr().out)}
    assert listed["torch_only"]["lowerings"] == {"torch": True, "jax": False}
    assert cli_module.main(["kernels"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("torch_only"))
    assert "no jax lowering" in line, line
    with pytest.raises(NotImplementedError, match="no jax lowering"):
        kernels.get("torch_only").jax_program(None, "fp32")


def test_listing_and_flop_module_import_no_framework():
    """Listing kernels and importing ``kernels.flops`` load every kernel
    module and the CLI, and must not import torch or JAX."""
    code = (
        "import sys, accelbench.kernels.flops, accelbench.harness.cli; from accelbench import kernels;"
        "[kernels.get(n).describe() for n in kernels.names()];"
        "bad=[m for m in ('torch','jax','jaxlib','torch_xla') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


# ------------------------------------------------------- the small things a user expects
def test_kernels_lists_each_kernels_set_keys(cli):
    proc = cli("kernels")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    gpt2 = lines.index(next(line for line in lines if line.startswith("gpt2 ")))
    keys = next(line for line in lines[gpt2:] if "--set keys:" in line)
    assert all(k in keys for k in ("n_layer", "n_head", "batch", "lr", "seed"))
    backend_keys = next(line for line in lines if line.startswith("(backends)"))
    assert all(k in backend_keys for k in ("precision", "threads", "compile"))


def test_version(cli):
    import accelbench

    proc = cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"accelbench {accelbench.__version__}"


def test_every_option_of_every_command_says_its_default():
    import argparse

    from accelbench.harness.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    missing = []
    for name, sub in commands.items():
        for action in sub._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            if not action.help or "default" not in action.help:
                missing.append(f"{name} {action.option_strings[0]}")
    assert missing == []


def test_a_closed_pipe_exits_quietly():
    import subprocess
    import sys

    proc = subprocess.run(f"{sys.executable} -m accelbench.harness.cli backends --json | head -1",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "[" and proc.stderr == "", proc.stderr
    proc = subprocess.run(f"{sys.executable} -m accelbench.harness.cli kernels --json | head -c 10",
                          shell=True, capture_output=True, text=True, timeout=120)
    assert proc.stderr == "", proc.stderr
