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
