"""compile_s on XLA = every graph compiled before timing; recompiles are counted over the timed
windows only (backends/torch_xla.py ``xla_compile_facts``, harness/timing.py ``compile_seconds``)."""

from __future__ import annotations

import pytest

from accelbench.backends.torch_xla import CompileStats, xla_compile_facts
from accelbench.harness.timing import compile_seconds


def test_the_numerics_second_graph_is_in_compile_s():
    # step 1 compiled one graph (40 s); the numerics steps a second one once AdamW state existed (95 s)
    before, windows_end, now = CompileStats(2, 135.0), CompileStats(2, 135.0), CompileStats(4, 136.5)
    facts = xla_compile_facts(before, windows_end, now, {})
    assert facts["compile_s_before_timing"] == 135.0
    assert compile_seconds(41.2, facts) == 135.0  # not the first step's 41.2 s of wall time


def test_the_audits_read_back_is_not_a_recompile():
    facts = xla_compile_facts(CompileStats(2, 10.0), CompileStats(2, 10.0), CompileStats(5, 10.3), {})
    assert (facts["xla_compiles_during_timing"], facts["xla_compiles_after_timing"]) == (0, 3)
    assert facts["recompiled_during_timing"] is False


def test_a_recompile_inside_the_windows_is_flagged():
    facts = xla_compile_facts(CompileStats(2, 10.0), CompileStats(3, 11.0), CompileStats(3, 11.0), {})
    assert facts["xla_compiles_during_timing"] == 1 and facts["recompiled_during_timing"] is True


def test_without_an_end_of_windows_snapshot_everything_up_to_now_counts():
    """The pytest-benchmark timer never says where its windows ended: the old, stricter count."""
    facts = xla_compile_facts(CompileStats(2, 10.0), None, CompileStats(3, 11.0), {})
    assert facts["xla_compiles_during_timing"] == 1 and facts["xla_compiles_after_timing"] == 0


def test_dynamo_recompiles_still_flag():
    facts = xla_compile_facts(CompileStats(1, 1.0), CompileStats(1, 1.0), CompileStats(1, 1.0),
                              {"recompiled_during_timing": True})
    assert facts["recompiled_during_timing"] is True


@pytest.mark.parametrize("info, expected", [({}, 3.5), ({"compile_s_before_timing": None}, 3.5),
                                            ({"compile_s_before_timing": 120}, 120.0)])
def test_other_backends_keep_the_wall_time_of_prepare_and_the_first_step(info, expected):
    assert compile_seconds(3.5, info) == expected
