"""The SkyPilot recipes in ci/cloud/: structure (SkyPilot's own JSON schemas),
what each installs and runs, and the shell scripts they call.

``sky.Task.from_yaml`` with an instance type fetches a catalog from the
network, so the files are validated against SkyPilot's schemas instead: a
copy in tests/data/skypilot_schemas.json (always), and the installed
``sky.utils.schemas`` with SkyPilot's own validator when skypilot is
installed (``pip install skypilot``; the test is skipped without it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import venv_prefix

from accelbench import backends
from accelbench.facts import catalog
from accelbench.harness import suite_file

yaml = pytest.importorskip("yaml")
jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[2]
CLOUD = ROOT / "ci" / "cloud"
SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "skypilot_schemas.json"
DESIGN_BACKENDS = {"torch-cuda", "torch-xla", "torch-neuron", "jax-gpu", "jax-tpu", "jax-neuron"}

EXPECTED = {
    # file: (how the machine is asked for, backends run, what the setup must install)
    "p5-h100.yaml": ({"instance_type": "p5.48xlarge"}, {"torch-cuda", "jax-gpu"}, ["TORCH_SPEC", "jax[cuda12]"]),
    "p5en-h200.yaml": ({"instance_type": "p5en.48xlarge"}, {"torch-cuda", "jax-gpu"}, ["TORCH_SPEC", "jax[cuda12]"]),
    "trn1.yaml": ({"instance_type": "trn1.32xlarge"}, {"torch-xla", "jax-neuron"},
                  ["https://pip.repos.neuron.amazonaws.com", "torch-neuronx==2.9", "jax-neuronx"]),
    "trn2.yaml": ({"instance_type": "trn2.48xlarge"}, {"torch-neuron", "jax-neuron"},
                  ["https://pip.repos.neuron.amazonaws.com", "torch-neuronx==2.14", "jax-neuronx"]),
    "tpu-v5e.yaml": ({"accelerators": "tpu-v5litepod-1"}, {"jax-tpu", "torch-xla"}, ["jax[tpu]", "torch_xla[tpu]"]),
    "tpu-v6e.yaml": ({"accelerators": "tpu-v6e-1"}, {"jax-tpu", "torch-xla"}, ["jax[tpu]", "torch_xla[tpu]"]),
}


def load(name: str) -> dict:
    return yaml.safe_load((CLOUD / name).read_text())


def schemas() -> dict:
    return json.loads(SCHEMAS.read_text())


WHOLE = {
    # file: (how the machine is asked for, the whole-instance suite, backends run)
    "whole-p5.yaml": ({"instance_type": "p5.48xlarge"}, "whole-p5", {"torch-cuda", "jax-gpu"}),
    "whole-p5-spot.yaml": ({"instance_type": "p5.48xlarge", "use_spot": True}, "whole-p5", {"torch-cuda", "jax-gpu"}),
    "whole-p5-multinode.yaml": ({"instance_type": "p5.48xlarge"}, "whole-p5", {"torch-cuda", "jax-gpu"}),
    "whole-trn2.yaml": ({"instance_type": "trn2.48xlarge"}, "whole-trn2", {"torch-neuron", "jax-neuron"}),
    "whole-trn1.yaml": ({"instance_type": "trn1.32xlarge"}, "whole-trn1", {"jax-neuron"}),
    "whole-v6e-8.yaml": ({"accelerators": "tpu-v6e-8"}, "whole-v6e-8", {"jax-tpu"}),
}
ALL = {**{name: None for name in EXPECTED}, **WHOLE}


def test_every_recipe_is_expected_and_present():
    assert {p.name for p in CLOUD.glob("*.yaml")} == set(ALL)


@pytest.mark.parametrize("name", sorted(ALL))
def test_recipe_matches_skypilot_schemas(name):
    task, s = load(name), schemas()
    jsonschema.Draft202012Validator(s["task"]).validate(task)
    jsonschema.Draft202012Validator(s["resources"]).validate(task["resources"])
    for dst, src in task.get("file_mounts", {}).items():
        if isinstance(src, dict):
            jsonschema.Draft202012Validator(s["storage"]).validate(src)


def test_schema_check_rejects_a_broken_recipe():
    broken = load("p5-h100.yaml")
    broken["resources"]["instance_typ"] = broken["resources"].pop("instance_type")
    with pytest.raises(jsonschema.ValidationError, match="instance_typ"):
        jsonschema.Draft202012Validator(schemas()["resources"]).validate(broken["resources"])
    broken = load("p5-h100.yaml") | {"setup": ["not", "a", "string"]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schemas()["task"]).validate(broken)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_recipe_machine_stack_suites_backends_and_price(name):
    machine, backend_names, installs = EXPECTED[name]
    task = load(name)
    for key, value in machine.items():
        assert task["resources"][key] == value
    for needle in installs:
        assert needle in task["setup"] + json.dumps(task["envs"]), needle
    envs = task["envs"]
    assert envs["SUITES"].split() == ["gpt2", "llama"]
    for suite in envs["SUITES"].split():
        suite_file.load_suite(suite)
    assert envs["ACCELBENCH_BUCKET"] is None  # a required --env
    assert task["file_mounts"]["/accelbench-results"]["name"] == "${ACCELBENCH_BUCKET}"
    run_lines = [line for line in task["run"].splitlines() if "run_suites.sh" in line]
    ran = {word for line in run_lines for word in line.split("run_suites.sh", 1)[1].split()[1:] if word != "||"}
    ran.discard("status=1")
    assert ran == backend_names
    assert ran <= DESIGN_BACKENDS and (ran - set(backends.names())) <= DESIGN_BACKENDS
    assert "collect_results.sh" in task["run"]
    if envs["INSTANCE"]:
        assert catalog.load_prices()[envs["INSTANCE"]].usd_per_hour  # priced from the list
    else:
        assert "USD_PER_HOUR" in envs


@pytest.mark.parametrize("name", sorted(ALL))
def test_recipe_shell_blocks_parse(name):
    task = load(name)
    for key in ("setup", "run"):
        proc = subprocess.run(["bash", "-n"], input=task[key], text=True, capture_output=True)
        assert proc.returncode == 0, f"{name} {key}: {proc.stderr}"
    for script in {w for w in (task["setup"] + task["run"]).split() if w.startswith("ci/cloud/")}:
        path = ROOT / script
        assert path.is_file() and os.access(path, os.X_OK), script
        assert subprocess.run(["bash", "-n", str(path)]).returncode == 0


@pytest.mark.slow
def test_run_script_writes_one_folder_per_suite_and_backend(tmp_path):
    env = {**os.environ, "RESULTS_DIR": str(tmp_path), "RUN_NAME": "here", "SUITES": "smoke",
           "INSTANCE": "p5.48xlarge", "ACCELBENCH_ARGS": "--kernel gemm:tiny --steps 1 --repeats 1 --warmup 0"}
    prefix = venv_prefix()
    proc = subprocess.run([str(CLOUD / "run_suites.sh"), str(prefix), "torch-cpu"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "here" / "smoke" / "torch-cpu" / "gemm-tiny--torch-cpu.json").read_text())
    assert record["status"] == "ok" and record["cost"]["instance"] == "p5.48xlarge"
    collect = subprocess.run([str(CLOUD / "collect_results.sh"), str(tmp_path / "bucket")], env=env,
                             capture_output=True, text=True)
    assert collect.returncode == 0 and "rsync -Pavz" in collect.stdout


@pytest.mark.parametrize("name", sorted(WHOLE))
def test_whole_instance_recipe_runs_its_suite_resumes_from_the_bucket_and_stops(name):
    machine, suite, backend_names = WHOLE[name]
    task = load(name)
    for key, value in machine.items():
        assert task["resources"][key] == value
    envs = task["envs"]
    assert envs["SUITES"] == suite and set(suite_file.load_suite(suite).backends) == backend_names
    assert envs["BUCKET_DIR"] == "/accelbench-results" and envs["ACCELBENCH_BUCKET"] is None
    assert task["file_mounts"]["/accelbench-results"]["name"] == "${ACCELBENCH_BUCKET}"
    ran = {word for line in task["run"].splitlines() if "run_suites.sh" in line
           for word in line.split("run_suites.sh", 1)[1].split()[1:] if word not in ("||", "status=1")}
    assert ran == backend_names
    if name.endswith("-spot.yaml"):  # a managed job: SkyPilot recovers it and tears it down; no autostop
        assert task["resources"]["job_recovery"]["strategy"] == "EAGER_NEXT_REGION"
        assert "autostop" not in task["resources"]
    else:
        assert task["resources"]["autostop"] == {"idle_minutes": 10, "down": True}
    if name.endswith("-multinode.yaml"):
        assert task["num_nodes"] >= 2
        for var in ("SKYPILOT_NUM_NODES", "SKYPILOT_NODE_RANK", "SKYPILOT_NODE_IPS"):
            assert f"${var}" in task["run"], var
    if envs["INSTANCE"]:
        assert catalog.load_prices()[envs["INSTANCE"]].usd_per_hour  # the whole instance's list price
    else:
        assert "USD_PER_HOUR" in envs


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_per_chip_recipes_copy_each_record_and_stop_when_idle(name):
    task = load(name)
    assert task["envs"]["BUCKET_DIR"] == "/accelbench-results"
    assert task["resources"]["autostop"] == {"idle_minutes": 10, "down": True}


SHELL_SCRIPTS = sorted(CLOUD.glob("*.sh")) + sorted((ROOT / "ci" / "slurm").glob("*.sbatch"))


@pytest.mark.parametrize("path", SHELL_SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_pass_bash_n_and_shellcheck(path):
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    proc = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("name", sorted(ALL))
def test_recipe_shell_blocks_pass_shellcheck(name):
    """The setup and run blocks, warnings and errors (the pip specs are split on purpose: SC2086 is info)."""
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    task = load(name)
    for key in ("setup", "run"):
        proc = subprocess.run(["shellcheck", "--severity=warning", "--shell=bash", "-"], input=task[key],
                              capture_output=True, text=True)
        assert proc.returncode == 0, f"{name} {key}: {proc.stdout}"


def test_slurm_script_runs_one_task_per_node_with_the_layout_from_slurm(tmp_path):
    """srun and scontrol replaced by stand-ins, accelbench by a script that
    records its arguments: node 1 of 2 gets --nnodes 2 --node-rank 1 and the
    first host of the node list as master."""
    bin_dir, venv = tmp_path / "bin", tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    stand_ins = {
        bin_dir / "scontrol": 'printf "gpu-a\\ngpu-b\\n"\n',
        bin_dir / "srun": 'for a; do last=$a; done; SLURM_NODEID=1 bash -c "$last"\n',
        venv / "bin" / "accelbench": f'echo "$*" >> {calls}\n',
    }
    for path, body in stand_ins.items():
        path.write_text("#!/usr/bin/env bash\n" + body)
        path.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_JOB_NODELIST": "gpu-[a-b]",
           "SLURM_JOB_NUM_NODES": "2", "SLURM_JOB_ID": "77", "SLURM_SUBMIT_DIR": str(ROOT),
           "ACCELBENCH_VENV": str(venv), "BUCKET_DIR": str(tmp_path / "bucket"), "TMPDIR": str(tmp_path)}
    proc = subprocess.run(["bash", str(ROOT / "ci" / "slurm" / "whole-node.sbatch")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    run = [line for line in calls.read_text().splitlines() if line.startswith("run ")]
    assert len(run) == 1, run
    words = run[0].split()
    for flag, value in (("--suite", "whole-p5"), ("--backend", "torch-cuda"), ("--nnodes", "2"), ("--node-rank", "1"),
                        ("--master-addr", "gpu-a"), ("--master-port", "29500"), ("--progress", "jsonl")):
        assert words[words.index(flag) + 1] == value, (flag, run[0])
    assert f"{tmp_path}/accelbench-77/slurm-77/whole-p5/torch-cuda" in run[0]


def test_vendored_schemas_match_installed_skypilot():
    sky_schemas = pytest.importorskip("sky.utils.schemas", reason="skypilot is not installed")
    import sky

    from sky.utils import common_utils

    vendored = schemas()
    if vendored["skypilot_version"] == sky.__version__:  # the copy is exact for its own version
        assert vendored["task"] == json.loads(json.dumps(sky_schemas.get_task_schema()))
        assert vendored["resources"] == json.loads(json.dumps(sky_schemas.get_resources_schema()))

    for name in ALL:
        task = load(name)
        common_utils.validate_schema(task, sky_schemas.get_task_schema(), f"{name}: ")
        common_utils.validate_schema(task["resources"], sky_schemas.get_resources_schema(), f"{name}: ")
        for src in task["file_mounts"].values():
            common_utils.validate_schema(src, sky_schemas.get_storage_schema(), f"{name}: ")


def dump_schemas(path: Path = SCHEMAS) -> None:
    """Refresh tests/data/skypilot_schemas.json from the installed skypilot."""
    import datetime

    import sky
    from sky.utils import schemas as sky_schemas

    doc = json.loads(path.read_text()) if path.exists() else {}
    doc.update(skypilot_version=sky.__version__, dumped_on=datetime.date.today().isoformat(),
               task=sky_schemas.get_task_schema(), resources=sky_schemas.get_resources_schema(),
               storage=sky_schemas.get_storage_schema())
    path.write_text(json.dumps(doc, indent=1, sort_keys=True))


if __name__ == "__main__" and sys.argv[1:] == ["--dump"]:
    dump_schemas()
