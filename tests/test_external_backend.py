"""The README's extension examples, run for real:

* "Adding a backend": examples/external_backend, a separate package whose
  entry point registers ``example-cpu``, installed into a temporary virtual
  environment next to accelbench, is listed by ``accelbench backends`` and
  runs the smoke suite (slow tier: it builds a venv and runs two cases);
* "Adding a kernel": the README's code block, run through the harness on
  torch-cpu and jax-cpu with its numerics check.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tomllib
import uuid
from pathlib import Path

import pytest

from accelbench import kernels
from accelbench.backends.base import Backend

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "external_backend"
README = ROOT / "README.md"


def readme_section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def code_blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.S)


# ------------------------------------------------------------------ backend
def test_example_package_declares_its_backend_entry_point(monkeypatch):
    meta = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    target = meta["project"]["entry-points"]["accelbench.backends"]["example-cpu"]
    module_name, _, attr = target.partition(":")
    spec = importlib.util.spec_from_file_location(module_name, EXAMPLE / (module_name.replace(".", "/") + ".py"))
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)
    spec.loader.exec_module(module)
    cls = getattr(module, attr)
    assert issubclass(cls, Backend) and cls.name == "example-cpu"
    assert cls().settings.threads == 1 and cls.available().ok


def test_readme_shows_the_example_as_it_is():
    section = readme_section("Adding a backend")
    backend_src = (EXAMPLE / "accelbench_example_backend" / "backend.py").read_text()
    (python_block,) = code_blocks(section, "python")
    excerpt = python_block.split("\n", 1)[1]  # after the "# file (excerpt)" line
    assert excerpt.strip() in backend_src
    (toml_block,) = code_blocks(section, "toml")
    assert toml_block.split("\n", 1)[1].strip() in (EXAMPLE / "pyproject.toml").read_text()


@pytest.mark.slow
def test_backend_from_a_separate_package_is_listed_and_runs_the_smoke_suite(tmp_path):
    """A venv that sees this environment's packages (torch, jax, accelbench,
    and pip and setuptools to install with) plus the example package; nothing
    is installed into this environment."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    # This environment's site-packages, processed as site-packages (its .pth files
    # too: accelbench's editable install is one), whether this is a venv or not.
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    outer = [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]
    Path(purelib, "_outer_environment.pth").write_text(
        "import site; " + "; ".join(f"site.addsitedir({p!r})" for p in outer) + "\n")
    source = tmp_path / "external_backend"  # a copy, so building leaves nothing in the checkout
    shutil.copytree(EXAMPLE, source)
    # Build with the setuptools at hand when it can make wheels; else (an old
    # setuptools without `wheel`, as a fresh venv of Python 3.11 has) in pip's
    # isolated build environment, which fetches setuptools from the index.
    can_build = subprocess.run([str(python), "-c", "import importlib.util as u, sys; sys.exit(not ("
                                "u.find_spec('setuptools.command.bdist_wheel') or u.find_spec('wheel')))"])
    offline = ["--no-build-isolation", "--no-index"] if can_build.returncode == 0 else []
    install = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", *offline, str(source)],
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr

    listed = subprocess.run([str(python), "-m", "accelbench.harness.cli", "backends", "--json"], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)}
    assert rows["example-cpu"]["available"] and "torch-cpu" in rows

    out = tmp_path / "out"
    run = subprocess.run([str(python), "-m", "accelbench.harness.cli", "run", "--suite", "smoke", "--backend", "example-cpu",
                          "--steps", "2", "--repeats", "1", "--warmup", "0", "--out", str(out), "--quiet"],
                         capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    records = [json.loads(p.read_text()) for p in sorted(out.glob("*--example-cpu.json"))]
    assert [(r["kernel"]["name"], r["status"]) for r in records] == [("gemm", "ok"), ("gpt2", "ok")]
    assert all(r["backend"]["settings"]["threads"] == 1 and r["numerics"]["passed"] for r in records)

    # and this environment does not have it
    here = subprocess.run([sys.executable, "-m", "accelbench.harness.cli", "backends"], capture_output=True, text=True)
    assert "example-cpu" not in here.stdout


# ------------------------------------------------------------------- kernel
@pytest.fixture
def readme_kernel(tmp_path, monkeypatch):
    """The README's kernel, imported as a module and registered as `axpy` for this test."""
    (block,) = code_blocks(readme_section("Adding a kernel"), "python")
    module_name = f"readme_axpy_{uuid.uuid4().hex[:8]}"
    path = tmp_path / f"{module_name}.py"
    path.write_text(block)
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module_name, module)
    spec.loader.exec_module(module)
    monkeypatch.setitem(kernels._MODULES, "axpy", (module_name, "Axpy"))
    kernels._cache.pop("axpy", None)
    yield kernels.get("axpy")
    kernels._cache.pop("axpy", None)


@pytest.mark.parametrize("backend", ["torch-cpu", "jax-cpu"])
def test_readme_kernel_runs_through_the_harness(readme_kernel, backend):
    from accelbench.harness.plan import Case
    from accelbench.harness.worker import run_case

    cfg = readme_kernel.config("tiny")
    assert readme_kernel.flops_per_step(cfg) == 2 * 4096 and readme_kernel.bytes_per_step(cfg) == 3 * 4096 * 4
    record = run_case(Case(kernel="axpy", preset="tiny", backend=backend, steps=3, warmup=1, repeats=1), "readme")
    assert record.status == "ok", record.error
    assert record.numerics.passed and record.numerics.max_rel_err < 1e-6
    assert record.metrics.tflops > 0 and record.kernel.flop_convention == "matmul-exact"
