"""The Neuron stacks of facts/data/stacks.toml: one place, and everything that names a Trainium
package version (the cloud recipes, `accelbench backends`, the torch-xla refusal, the README) agrees."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from accelbench.facts import stacks
from accelbench.facts.catalog import CatalogError

ROOT = Path(__file__).resolve().parents[2]
NEURON_RECIPES = ["trn1.yaml", "trn2.yaml", "whole-trn1.yaml", "whole-trn2.yaml"]


def recipe_pins(name: str) -> dict[str, str]:
    """{stack named on a setup line: the pip spec that line installs}, read from the recipe's envs."""
    yaml = pytest.importorskip("yaml")
    recipe = yaml.safe_load((ROOT / "ci" / "cloud" / name).read_text())
    pins = {}
    for stack, variable in re.findall(r"STACK=(\S+) ci/cloud/setup_venv\.sh \S+ .*\$(\w+_SPEC)", recipe["setup"]):
        pins[stack] = " ".join(str(recipe["envs"][variable]).split())
    return pins


@pytest.mark.parametrize("name", NEURON_RECIPES)
def test_recipes_pin_what_the_stacks_file_says(name):
    pins = recipe_pins(name)
    assert pins, f"{name} installs no named stack"
    known = stacks.load_stacks()
    for stack, spec in pins.items():
        assert spec == known[stack].pip_spec, (name, stack)
        instance = re.search(r"instance_type: (\w+)\.", (ROOT / "ci" / "cloud" / name).read_text()).group(1)
        assert instance in known[stack].instances, (name, stack, instance)


def test_no_neuron_recipe_leaves_a_neuron_package_unpinned():
    yaml = pytest.importorskip("yaml")
    for name in NEURON_RECIPES:
        envs = yaml.safe_load((ROOT / "ci" / "cloud" / name).read_text())["envs"]
        for variable in (v for v in envs if v.endswith("_SPEC")):
            for requirement in str(envs[variable]).split():
                assert re.fullmatch(r"[\w.-]+==\d+(\.\d+)*(\.\*)?", requirement), (name, requirement)
                assert not requirement.endswith("==2.*"), (name, requirement)


def test_every_stack_is_sourced_pinned_and_dated():
    for stack in stacks.load_stacks().values():
        assert stack.sources and all(s.startswith("https://awsdocs-neuron") for s in stack.sources), stack.name
        assert all(r.startswith("==") for _, r in stack.pip) and stack.why and stack.image, stack.name


def test_the_paths_per_instance():
    by_backend = {b: s for s in stacks.load_stacks().values() for b in s.backends}
    assert by_backend["torch-neuron"].instances == ("trn2", "trn3") and by_backend["torch-neuron"].neuron_sdk == "2.34.0"
    assert by_backend["torch-xla"].instances == ("trn1",)
    assert tuple(int(x) for x in by_backend["torch-xla"].neuron_sdk.split(".")[:2]) <= (2, 29)


@pytest.mark.parametrize("text, message", [
    ("[stacks.x]\nbackends = []\n", "stack 'x': field '"),
    ("nothing = 1\n", "no [stacks.NAME] entries"),
    ("[stacks", "not valid TOML"),
])
def test_a_bad_entry_fails_in_one_line(text, message):
    with pytest.raises(CatalogError, match=re.escape(message)) as caught:
        stacks.parse_stacks(text, Path("stacks.toml"))
    assert "\n" not in str(caught.value)


def test_an_unpinned_package_is_refused():
    good = (ROOT / "facts" / "data" / "stacks.toml").read_text()
    bad = good.replace('"jax" = "==0.10.0"', '"jax" = ">=0.10"')
    with pytest.raises(CatalogError, match="'jax' must be pinned with '=='"):
        stacks.parse_stacks(bad)


@pytest.mark.parametrize("requirement, version, ok", [
    ("==2.14.3.1.*", "2.14.3.1", True), ("==2.14.3.1.*", "2.14.3.1.40817", True), ("==2.14.3.1.*", "2.14.3.0.1", False),
    ("==2.28.7631.0", "2.28.7631.0+0c0b3ad2", True), ("==2.14.0", "2.14", True), ("==2.14.0", "2.14.1", False),
    ("==1.0", None, False),
])
def test_a_pin_is_met_as_pip_would(requirement, version, ok):
    assert stacks.satisfies(requirement, version) is ok


def test_the_setup_check_names_what_differs():
    stack = stacks.load_stacks()["torch-neuron"]
    assert stacks.problems(stack, {"torch-neuronx": "2.14.3.1.5", "torch": "2.14.0"}) == []
    assert stacks.problems(stack, {"torch-neuronx": "2.13.3.0", "torch": None}) == [
        "torch-neuronx 2.13.3.0, pinned ==2.14.3.1.*", "torch not installed, pinned ==2.14.0"]


def test_torch_xla_on_neuron_says_training_ended_and_points_to_torch_neuron():
    from accelbench.backends.torch_xla import xla_on_neuron_availability

    native = xla_on_neuron_availability("2.14.3.1")
    assert not native.ok and "AWS ended PyTorch/XLA training on Neuron with Neuron 2.30" in native.reason
    assert "torch-neuron backend" in native.reason and stacks.load_stacks()["torch-xla-trn1"].pip_spec in native.reason
    assert xla_on_neuron_availability("2.9.0.2.13.30129").ok


def test_backends_lists_each_neuron_backends_pinned_stack(capsys):
    from accelbench.harness import cli

    assert cli.main(["backends", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["torch-neuron"]["stacks"] == [stacks.load_stacks()["torch-neuron"].summary()]
    assert rows["torch-cuda"]["stacks"] == []


def test_the_readme_names_every_pinned_version():
    readme = (ROOT / "README.md").read_text()
    for stack in stacks.load_stacks().values():
        for package, requirement in stack.pip:
            assert f"{package}{requirement}" in readme, (stack.name, package)
        assert stack.neuron_sdk in readme and stack.driver in readme
