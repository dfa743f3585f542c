"""The load rule's measured reading (harness/hostload.py): /proc/stat's busy
CPU time less the case's own processes, on recorded /proc text."""

from __future__ import annotations

import os

import pytest

from accelbench.harness import hostload, timing
from accelbench.harness.case_env import PARENT_PID_VAR
from accelbench.harness.records import TimingPart

# /proc/stat's first line on the 2-core development machine, 2026-12-03 (proc(5): user nice system idle
# iowait irq softirq steal guest guest_nice, in USER_HZ ticks)
STAT_LINE = "cpu  1242830 1069 116362 1578348 6884 0 1598 3340 0 0"
# /proc/PID/stat of a python process whose command name holds a space and parentheses (proc(5): the name
# is field 2, in parentheses; fields 4 ppid, 6 session, 14-17 utime stime cutime cstime)
PROC_STAT = ("4242 (pt (main) x) S 4200 4242 4242 0 -1 4194560 8211 0 0 0 "
             "150 25 7 3 20 0 3 0 123456 1000000 2000 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0")


def test_busy_seconds_count_user_nice_system_irq_softirq_and_steal_not_idle_or_iowait():
    ticks = 1242830 + 1069 + 116362 + 0 + 1598 + 3340
    assert hostload.parse_busy_seconds(STAT_LINE, 100.0) == pytest.approx(ticks / 100.0)
    assert hostload.parse_busy_seconds("cpu0 1 2 3 4 5 6 7 8", 100.0) is None  # one CPU's line, not the total


def test_a_process_stat_is_read_after_the_last_parenthesis():
    stat = hostload.parse_process_stat(PROC_STAT)
    assert stat == hostload.ProcessStat(ppid=4200, session=4242, cpu_ticks=150 + 25 + 7 + 3)
    assert hostload.parse_process_stat("12 (short) S 1") is None


def test_descendants_walk_the_whole_tree_below_the_root():
    parent_of = {10: 1, 11: 10, 12: 11, 13: 10, 20: 1}
    assert hostload.descendants(10, parent_of) == {10, 11, 12, 13}


def _fake_proc(tmp_path, rows):
    """A /proc holding one stat file per (pid, ppid, session, ticks) row."""
    for pid, ppid, session, ticks in rows:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(
            f"{pid} (p) S {ppid} {session} {session} 0 -1 0 0 0 0 0 {ticks} 0 0 0 20 0 1 0 1 1 1")
    return tmp_path


def test_the_case_owns_its_whole_session_when_the_runner_started_it(tmp_path, monkeypatch):
    me, session = os.getpid(), os.getsid(0)
    proc = _fake_proc(tmp_path, [(me, 1, session, 300), (me + 1, me, session, 200),  # a rank in the session
                                 (me + 2, 1, session + 1, 5000)])  # another job: not ours
    monkeypatch.setenv(PARENT_PID_VAR, "1")
    assert hostload.own_cpu_seconds(proc) == pytest.approx(5.0 * 100 / hostload._ticks_per_second())
    monkeypatch.delenv(PARENT_PID_VAR)  # inline (the pytest plugin): this process and its descendants only
    proc2 = tmp_path / "inline"
    proc2.mkdir()
    _fake_proc(proc2, [(me, 1, session, 300), (me + 1, me, session, 200), (me + 3, 1, session, 900)])
    assert hostload.own_cpu_seconds(proc2) == pytest.approx(5.0 * 100 / hostload._ticks_per_second())


def _snap(busy, own, at, cpus=2):
    return {"load1": 1.0, "others": 1.0, "cpus": cpus, "busy_cpu_s": busy, "own_cpu_s": own, "at_s": at}


def test_others_are_the_busy_time_the_case_did_not_use_over_the_span():
    assert hostload.others_busy_cpus(_snap(100.0, 10.0, 0.0), _snap(103.0, 12.0, 2.0)) == pytest.approx(0.5)
    assert hostload.others_busy_cpus(_snap(100.0, 10.0, 0.0), _snap(100.1, 10.1, 0.1)) is None  # too short
    assert hostload.others_busy_cpus({"load1": 1.0}, _snap(1.0, 1.0, 1.0)) is None  # no /proc reading


def _timing(host):
    samples = [1e-3] * 12
    t = TimingPart(samples_s=samples, host=host)
    t.step_s = {"median": 1e-3, "ci95": [0.999e-3, 1.001e-3]}
    return t


def test_the_load_rule_reads_what_other_processes_did_not_the_load_average():
    # the load average says 1.9 runnable threads of others (this run's earlier cases), but /proc says
    # the other processes kept no CPU busy during timing: not flagged
    quiet = {"load_before": {**_snap(100.0, 10.0, 0.0), "load1": 1.9, "others": 1.9},
             "load_after": _snap(104.0, 14.0, 2.0), "threads": 2}
    assert timing.flag_unstable(_timing(quiet), {}) == []
    busy = {"load_before": _snap(100.0, 10.0, 0.0), "load_after": _snap(104.0, 11.0, 2.0), "threads": 2}
    reasons = timing.flag_unstable(_timing(busy), {})
    assert len(reasons) == 1 and reasons[0].startswith("load from other processes: other work kept about 1.5 of 2")
    unknown_threads = {**busy, "threads": None}  # jax-cpu: taken as every CPU, so 1.5 CPUs of others is flagged
    assert "unknown threads, taken as 2" in timing.flag_unstable(_timing(unknown_threads), {})[0]
    one_thread = {**busy, "threads": 1}  # one CPU left free: 1.5 is within 1 free + the 0.5 margin
    assert timing.flag_unstable(_timing(one_thread), {}) == []
