"""jax-neuronx's multi-process variables as a pure function of the layout (backends/neuron_pjrt.py)."""

from __future__ import annotations

import pytest

from accelbench.backends.neuron_pjrt import multi_process_environment, visible_core_count


def test_one_process_needs_nothing():
    assert multi_process_environment(64, 1, 0) == {}


@pytest.mark.parametrize("index", [0, 1, 3])
def test_every_host_gets_the_same_list_and_its_own_index(index):
    env = multi_process_environment(32, 4, index)
    assert env == {"NEURON_PJRT_PROCESSES_NUM_DEVICES": "32,32,32,32", "NEURON_PJRT_PROCESS_INDEX": str(index),
                   "NEURON_RT_VISIBLE_CORES": "0-31"}


def test_a_users_visible_cores_are_kept_when_they_hold_enough():
    env = multi_process_environment(4, 2, 1, {"NEURON_RT_VISIBLE_CORES": "8-11"})
    assert env == {"NEURON_PJRT_PROCESSES_NUM_DEVICES": "4,4", "NEURON_PJRT_PROCESS_INDEX": "1"}
    assert multi_process_environment(1, 2, 0)["NEURON_RT_VISIBLE_CORES"] == "0"


@pytest.mark.parametrize("args, message", [
    ((4, 2, 0, {"NEURON_RT_VISIBLE_CORES": "0-1"}), "fewer than the 4"),
    ((4, 2, 2, None), "outside 0..1"),
    ((0, 2, 0, None), "at least one"),
])
def test_impossible_layouts_say_why(args, message):
    with pytest.raises(ValueError, match=message):
        multi_process_environment(*args)


def test_visible_core_syntax():
    assert [visible_core_count(v) for v in ("3", "0-3", "0,2,4-5", "")] == [1, 4, 4, 0]


def test_the_jax_mesh_launcher_exports_them_before_jax_starts(monkeypatch):
    """A jax-neuron case on host 1 of 2 finds the variables set when its engine starts (before JAX loads)."""
    import os

    from accelbench.backends import jax_mesh
    from accelbench.harness.launch.jaxmesh import JaxMeshLauncher
    from accelbench.harness.launch.layout_checks import with_layout
    from accelbench.harness.layout import Layout
    from accelbench.harness.plan import Case

    for name in ("NEURON_PJRT_PROCESSES_NUM_DEVICES", "NEURON_PJRT_PROCESS_INDEX", "NEURON_RT_VISIBLE_CORES"):
        monkeypatch.delenv(name, raising=False)  # restored (removed) after the test
    seen = {}

    class Started(Exception):
        pass

    class FakeMesh:
        def __init__(self, *args, **kwargs):
            pass

        def start(self, platform):
            seen.update(platform=platform, **{k: v for k, v in os.environ.items()
                                              if k.startswith(("NEURON_PJRT_", "NEURON_RT_VISIBLE"))})
            raise Started

    monkeypatch.setattr(jax_mesh, "JaxMesh", FakeMesh)
    layout = Layout(nproc=32, nnodes=2, node_rank=1, master_addr="10.0.0.1", master_port=29500)
    [case] = with_layout([Case("gpt2", "tiny", "jax-neuron", kernel_settings={"batch": 64})], layout)
    with pytest.raises(Started):
        JaxMeshLauncher().launch(case, "case.json", "record.json", "run")
    assert seen == {"platform": "neuron", "NEURON_PJRT_PROCESSES_NUM_DEVICES": "32,32",
                    "NEURON_PJRT_PROCESS_INDEX": "1", "NEURON_RT_VISIBLE_CORES": "0-31"}
