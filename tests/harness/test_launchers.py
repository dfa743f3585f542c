"""The launcher registry: a case's layout names its launcher (or the first whose default rule takes it),
and every launcher's processes enter through one module."""

from __future__ import annotations

import dataclasses

import pytest

from accelbench.harness.launch import LAUNCHERS, __main__ as entry, case_command, launcher_for
from accelbench.harness.launch.layout_checks import with_layout
from accelbench.harness.layout import Layout
from accelbench.harness.plan import Case, PlanError


def case(backend: str = "torch-cpu", **layout) -> Case:
    return Case(kernel="gpt2", preset="tiny", backend=backend, layout=Layout(**layout))


@pytest.mark.parametrize("backend, nproc, expected", [
    ("torch-cpu", 1, "inline"), ("jax-cpu", 1, "inline"), ("torch-cpu", 2, "torchrun"), ("jax-cpu", 2, "jaxmesh")])
def test_a_layout_without_a_launcher_gets_the_first_default_in_registry_order(backend, nproc, expected):
    assert launcher_for(case(backend, nproc=nproc)).name == expected


def test_a_layout_that_names_a_launcher_runs_under_it_and_the_command_says_so():
    named = case("torch-cpu", nproc=2, launcher="jaxmesh")
    assert launcher_for(named).name == "jaxmesh"
    assert case_command(named, "c", "r", "id")[1:5] == ["-m", "accelbench.harness.launch", "jaxmesh", "c"]


def test_an_unknown_launcher_is_one_plan_error_naming_the_accepted_ones():
    with pytest.raises(PlanError, match="unknown launcher 'srun'; accepted: " + ", ".join(LAUNCHERS)):
        with_layout([case()], dataclasses.replace(Layout(), launcher="srun"))


def test_the_entry_point_refuses_a_name_outside_the_registry(capsys):
    assert entry.main(["torchrun-rank", "c", "r", "id"]) == 2
    assert "{inline|torchrun|jaxmesh}" in capsys.readouterr().err
    with pytest.raises(NotImplementedError, match="starts no worker"):
        entry.main(["inline", "c", "r", "id", "--worker"])
