"""Facts told once: the precision policies, the FLOP conventions and their
prose, the case-id format, the atomic writer, the installed-version helper,
and the one top-level name the distribution installs."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from accelbench import kernels
from accelbench.facts import catalog, envinfo
from accelbench.harness import records
from accelbench.harness.layout import Layout
from accelbench.harness.plan import Case, CaseId
from accelbench.kernels import precision
from accelbench.kernels.base import FLOP_CONVENTIONS
from accelbench.reports import methodology

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- precision
def test_precision_table_is_self_consistent():
    assert precision.PRECISIONS == ("fp64", "fp32", "tf32", "bf16")
    for p in precision.POLICIES.values():
        assert {p.storage, p.master, p.compute} <= set(precision.DTYPE_BYTES)
        assert p.peak is None or p.peak in catalog.CATALOG_PEAKS
    assert precision.policy("tf32").storage == "float32" and not precision.policy("tf32").full_precision_matmuls
    assert precision.policy("bf16").master == "float32" and precision.policy("bf16").compute == "bfloat16"
    tolerances = [precision.policy(n).tolerance for n in precision.PRECISIONS]
    assert tolerances == sorted(tolerances)  # the coarser the policy, the looser its check
    assert all(p.change_tolerance >= p.tolerance for p in precision.POLICIES.values())  # small norms: looser
    with pytest.raises(ValueError, match="accepted: fp64, fp32, tf32, bf16"):
        precision.policy("fp16")


def test_framework_dtypes_come_from_the_table():
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    for name, p in precision.POLICIES.items():
        assert precision.torch_dtype(name).itemsize == p.element_bytes
        assert precision.torch_dtype(name, "master") == (torch.float64 if name == "fp64" else torch.float32)
        assert np.dtype(precision.jax_dtype(name)).itemsize == p.element_bytes
    assert precision.jax_dtype("bf16", "compute") == jnp.bfloat16


def test_every_catalog_peak_name_is_a_policy_peak_or_fp8():

    for device in catalog.load_devices().values():
        assert set(device.peak_tflops) <= set(catalog.CATALOG_PEAKS), device.key


# ---------------------------------------------------------- FLOP conventions
@pytest.mark.parametrize("name", kernels.names())
def test_every_convention_a_kernel_states_is_described(name):
    kernel = kernels.get(name)
    cfg = kernel.config("tiny")
    assert kernel.flop_convention in FLOP_CONVENTIONS
    assert set(kernel.flops_by_convention(cfg)) <= set(FLOP_CONVENTIONS)


def test_methodology_prints_each_recorded_conventions_description():
    pd = pytest.importorskip("pandas")
    rows = [{"workload": f"k{i}:tiny", "status": "ok", "kernel.flop_convention": c, "backend.name": "torch-cpu"}
            for i, c in enumerate(FLOP_CONVENTIONS)]
    rows.append({"workload": "other:tiny", "status": "ok", "kernel.flop_convention": "made-up", "backend.name": "x"})
    items = methodology._flops(pd.DataFrame(rows)).items
    for convention, description in FLOP_CONVENTIONS.items():
        assert any(item.endswith(f"{convention}: {description}") for item in items), convention
    assert any("made-up: a convention this version of accelbench does not describe" in item for item in items)


# ------------------------------------------------------------------ case id
def test_kernel_names_hold_no_dash_so_case_ids_parse():
    assert all(re.fullmatch(r"[a-z0-9_]+", name) for name in kernels.names())


@pytest.mark.parametrize("case, text", [
    (Case("gpt2", "tiny", "torch-cpu"), "gpt2-tiny--torch-cpu"),
    (Case("gpt2", "tiny", "torch-cpu", layout=Layout(nproc=2)), "gpt2-tiny--torch-cpu--dp2"),
    (Case("gpt2", "124m", "torch-cuda", layout=Layout(nproc=8, nnodes=2)), "gpt2-124m--torch-cuda--dp2x8"),
    (Case("attention", "8k-d128", "jax-gpu", backend_settings={"jax_attention": "xla"}), None),
    (Case("cross_entropy", "llama3-8b", "torch-cpu", kernel_settings={"tokens": 8}, layout=Layout(nproc=4)), None),
])
def test_case_id_is_built_and_parsed_by_one_format(case, text):
    if text is not None:
        assert case.case_id == text
    parsed = CaseId.parse(case.case_id)
    assert parsed is not None and str(parsed) == case.case_id
    assert (parsed.kernel, parsed.preset, parsed.backend) == (case.kernel, case.preset, case.backend)
    assert (parsed.nproc, parsed.nnodes) == (case.layout.nproc, case.layout.nnodes)
    assert (parsed.settings_hash is not None) == bool(case.kernel_settings or case.backend_settings)
    assert CaseId.parse(f"out:{case.case_id}") == parsed  # a several-records file's prefix (reports.load)


@pytest.mark.parametrize("text", ["results", "gpt2-tiny-torch-cpu", "gpt2--torch-cpu", "gpt2-tiny--torch-cpu--dpx",
                                  "gpt2-tiny--torch-cpu--ABCDEF12", ""])
def test_case_id_parse_rejects_other_text(text):
    assert CaseId.parse(text) is None


def test_baseline_prefers_default_settings_on_one_device():
    from types import SimpleNamespace

    from accelbench.reports import tables

    def row(case_id):
        return SimpleNamespace(backend="torch-cpu", published=False, record={"_case_id": case_id})

    rows = [row("gpt2-tiny--torch-cpu--dp2"), row("gpt2-tiny--torch-cpu--0123abcd"), row("gpt2-tiny--torch-cpu"),
            row("renamed")]
    assert tables._baseline_row(rows, "torch-cpu") is rows[2]
    assert tables._baseline_row([rows[i] for i in (1, 3, 0)], "torch-cpu") is rows[0]  # default settings, 2 devices
    assert tables._baseline_row([rows[3], rows[1]], "torch-cpu") is rows[1]


# ----------------------------------------------------------- atomic writer
def test_written_files_get_a_plain_files_mode_not_mkstemps(tmp_path):
    old = os.umask(0o022)
    try:
        record = records.write_atomic(tmp_path / "a" / "r.json", {"x": 1})
        report = records.write_bytes_atomic(tmp_path / "report.md", b"# r\n")
    finally:
        os.umask(old)
    for path in (record, report):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, oct(path.stat().st_mode)
    assert record.read_text() == '{\n  "x": 1\n}\n'
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "r.json", "report.md"]  # no temp file left


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path):
    target = records.write_atomic(tmp_path / "r.json", {"x": 1})
    with pytest.raises(TypeError):
        records.write_atomic(target, {"x": object()})  # not JSON: fails before anything is written
    with pytest.raises(OSError):
        records.write_bytes_atomic(tmp_path / "r.json" / "under-a-file", b"")
    assert target.read_text() == '{\n  "x": 1\n}\n' and [p.name for p in tmp_path.iterdir()] == ["r.json"]


# ---------------------------------------------------------------- versions
def test_package_version_reads_metadata_without_importing():
    assert envinfo.package_version("numpy") == np.__version__
    assert envinfo.package_version("no-such-distribution-here") is None


# ------------------------------------------------------ one top-level name
@pytest.mark.slow
def test_the_wheel_installs_only_the_accelbench_package(tmp_path):
    """Build the distribution (from a copy: building writes build/ and
    egg-info next to the sources) and list what it would put in site-packages."""
    source = tmp_path / "src"
    shutil.copytree(ROOT, source, symlinks=True,  # the sysfs fixtures hold links, as sysfs does
                    ignore=shutil.ignore_patterns(".git", ".venv*", "build", "*.egg-info", "__pycache__", "results",
                                                  ".benchmarks", ".mypy-links", ".mypy_cache", ".hypothesis"))
    wheels = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(source)]
    # The setuptools at hand when it is new enough (no index needed), else pip's isolated build.
    done = subprocess.run([*build, "--no-build-isolation"], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        done = subprocess.run(build, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (wheel,) = wheels.glob("accelbench-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/", 1)[0] for name in names}
    dist_info = [t for t in top if t.endswith(".dist-info")]
    assert top - set(dist_info) == {"accelbench"}, sorted(top)
    (info,) = dist_info
    assert zipfile.ZipFile(wheel).read(f"{info}/top_level.txt").decode().split() == ["accelbench"]
    assert {"accelbench/kernels/precision.py", "accelbench/harness/suites/smoke.toml",
            "accelbench/facts/data/devices.toml"} <= set(names)
    assert not any(n.startswith(("accelbench/tests/", "accelbench/ci/")) for n in names)


# ------------------------------------------------------------------ README
def test_readme_layout_names_every_module():
    """Every module but the workloads (a new kernel is its module and a
    registry line, no more: `accelbench kernels` lists them)."""
    text = (ROOT / "README.md").read_text()
    layout = text[text.index("\n## Layout\n"):text.index("\n## ", text.index("\n## Layout\n") + 1)]
    words = set(re.findall(r"[a-z_0-9]+", layout))
    workloads = {module.rpartition(".")[2] for module, _ in kernels._MODULES.values()}
    for folder in ("facts", "kernels", "backends", "harness", "reports"):
        for module in (ROOT / folder).rglob("*.py"):
            if folder == "kernels" and module.stem in workloads:
                continue
            name = module.stem if module.stem not in ("__init__", "__main__") else module.parent.name
            assert name in words, f"README's Layout does not name {module.relative_to(ROOT)}"


def test_env_lists_the_accelerators_discovery_finds(capsys):
    from accelbench.backends import discovery
    from accelbench.harness.cli import main

    assert main(["env", "--json"]) == 0
    env = json.loads(capsys.readouterr().out)
    assert env["accelerators"] == [vars(d) for d in discovery.discover_all()]
    assert env["numpy"] == envinfo.package_version("numpy")
