"""The README's extension examples, run for real:

* "Adding a backend": examples/external_backend, a separate package whose
  entry point registers ``example-cpu``, installed into a temporary virtual
  environment next to accelbench, is listed by ``accelbench backends`` and
  runs the smoke suite (slow tier: it builds a venv and runs two cases);
* "Adding a kernel": the README's code block and registry line added to a
  copy of the package, run through the harness on torch-cpu and jax-cpu with
  its numerics check, and through the FLOP accounting test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from conftest import run_cli

from accelbench.backends.base import Backend

ROOT = Path(__file__).resolve().parents[2]
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
    here = run_cli("backends", timeout=None)
    assert "example-cpu" not in here.stdout


# ------------------------------------------------------------------- kernel
PACKAGE_PARTS = ("__init__.py", "suggest.py", "facts", "kernels", "backends", "harness", "reports")
"""What installs as the ``accelbench`` package (pyproject maps the root to it)."""


def add_the_readme_kernel(package: Path) -> None:
    """Do what "Adding a kernel" says, in ``package`` (a copy of accelbench):
    save the code block as kernels/<name>.py and add the quoted line to
    ``_MODULES`` in kernels/__init__.py. Nothing else."""
    section = readme_section("Adding a kernel")
    (block,) = code_blocks(section, "python")
    path, registry_line = re.search(r"Save it as `(kernels/\w+\.py)`, add `([^`]+)` to `_MODULES`", section).groups()
    (package / path).write_text(block)
    init = package / "kernels" / "__init__.py"
    text = init.read_text()
    assert text.count("_MODULES = {\n") == 1
    init.write_text(text.replace("_MODULES = {\n", "_MODULES = {\n    " + registry_line.rstrip(",") + ",\n"))


@pytest.mark.slow
def test_readme_kernel_needs_two_files_and_runs_through_the_harness_and_the_flop_check(tmp_path):
    """The README's kernel added to a copy of the package exactly as the README
    says (this checkout's registry is never touched), then run the way a user
    would: `accelbench run` on torch-cpu and jax-cpu in processes that import
    the copy, and the FLOP accounting test, which has no entry for it."""
    package = tmp_path / "src" / "accelbench"
    package.mkdir(parents=True)
    for part in PACKAGE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, package / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, package / part)
    add_the_readme_kernel(package)
    changed = subprocess.run(["diff", "-rq", "-x", "__pycache__", str(ROOT / "kernels"), str(package / "kernels")],
                             capture_output=True, text=True).stdout.splitlines()
    assert len(changed) == 2, changed  # kernels/__init__.py differs, kernels/axpy.py is new

    # The copy first on the path; the installed accelbench's metadata still names the backends.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(package.parent), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "out"
    run = run_cli("run", "--kernel", "axpy", "--backend", "torch-cpu", "--backend", "jax-cpu", "--steps", "3",
                  "--warmup", "1", "--repeats", "1", "--out", out, "--quiet", timeout=600, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    records = {p.stem: json.loads(p.read_text()) for p in out.glob("axpy-*.json")}
    assert sorted(records) == ["axpy-tiny--jax-cpu", "axpy-tiny--torch-cpu"]
    for record in records.values():
        assert record["status"] == "ok", record["error"]
        assert record["numerics"]["passed"] and record["numerics"]["max_rel_err"] < 1e-6
        assert record["kernel"]["flop_convention"] == "elementwise"
        assert record["kernel"]["flops_per_step"] == 2 * 4096 and record["kernel"]["bytes_per_step"] == 3 * 4096 * 4
        assert record["metrics"]["tflops"] > 0

    flop_test = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "axpy",
                                str(ROOT / "tests" / "kernels" / "test_flop_accounting.py")],
                               capture_output=True, text=True, timeout=600, cwd=tmp_path, env=env)
    assert flop_test.returncode == 0 and "1 passed" in flop_test.stdout, flop_test.stdout + flop_test.stderr
