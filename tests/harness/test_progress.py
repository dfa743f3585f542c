"""Progress events: worker -> file -> runner -> renderer (harness/progress.py)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from accelbench.harness import progress
from accelbench.harness.plan import Case


def test_emit_is_silent_without_the_variable_and_appends_lines_with_it(tmp_path, monkeypatch):
    monkeypatch.delenv(progress.ENV_VAR, raising=False)
    progress.emit("setup")  # nowhere to write: no error, no file
    events = tmp_path / "events"
    monkeypatch.setenv(progress.ENV_VAR, str(events))
    progress.emit("compile and first step")
    progress.emit("timed steps, repeat 2 of 3", steps_done=10)
    lines = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["label"] for e in lines] == ["compiling", "timing"]
    assert lines[1]["steps_done"] == 10


def test_event_tail_keeps_an_unfinished_line_for_the_next_read(tmp_path):
    path = tmp_path / "events"
    tail = progress.EventTail(path)
    assert tail.read() == []  # no file yet
    path.write_text('{"phase": "a"}\n{"phase": "b"')
    assert [e["phase"] for e in tail.read()] == ["a"]
    with open(path, "a") as f:
        f.write('}\nnot json\n{"phase": "c"}\n')
    assert [e["phase"] for e in tail.read()] == ["b", "c"]


WRITER = """
import json, sys, time
for i in range(3):
    with open(sys.argv[1], "a") as f:
        f.write(json.dumps({"phase": f"p{i}"}) + "\\n")
    time.sleep(0.3)
time.sleep(float(sys.argv[2]))
"""


def test_wait_relaying_hands_over_events_while_the_process_runs(tmp_path):
    events, seen = tmp_path / "events", []
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(events), "0"])
    code = progress.wait_relaying(proc, 30, events, lambda e: seen.append((e["phase"], proc.poll())))
    assert code == 0
    assert [p for p, _ in seen] == ["p0", "p1", "p2"]
    assert seen[0][1] is None  # the first event arrived while the process was still running


def test_wait_relaying_times_out_like_wait(tmp_path):
    events = tmp_path / "events"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(events), "30"])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            progress.wait_relaying(proc, 1.5, events, lambda e: None)
    finally:
        proc.kill()
        proc.wait()


@dataclass
class FakeOutcome:
    case: Case
    status: str = "ok"
    path: Path = Path("r.json")
    wall_s: float = 1.0
    record: dict = field(default_factory=dict)


def drive(renderer: progress.Renderer) -> str:
    case = Case(kernel="gemm", preset="tiny", backend="torch-cpu", steps=5, repeats=2)
    with renderer:
        renderer.on_case(1, 1, case, "start")
        renderer.on_event({"event": "phase", "phase": "compile and first step", "label": "compiling"})
        renderer.on_event({"event": "phase", "phase": "timed steps, repeat 2 of 2", "label": "timing",
                           "steps_done": 5})
        renderer.on_case(1, 1, FakeOutcome(case), "done")
    renderer.finish("1 cases: 1 ok", {"ok": 1})
    return renderer.stream.getvalue()


def describe(outcome) -> str:
    return "ok, 1.000 ms/step"


def test_plain_renderer_prints_case_phases_steps_and_result():
    text = drive(progress.make_renderer("plain", describe, io.StringIO()))
    assert "[1/1] gemm:tiny on torch-cpu: compiling (" in text
    assert "timing, 5/10 timed steps (" in text
    assert "[1/1] gemm:tiny on torch-cpu: ok, 1.000 ms/step" in text and text.endswith("1 cases: 1 ok\n")


def test_jsonl_renderer_writes_only_json_lines():
    events = [json.loads(line) for line in drive(progress.make_renderer("jsonl", describe, io.StringIO())).splitlines()]
    assert [e["event"] for e in events] == ["case_start", "phase", "phase", "case_done", "run_done"]
    assert events[2]["steps_done"] == 5 and events[3]["status"] == "ok" and events[4]["counts"] == {"ok": 1}


def test_rich_and_quiet_renderers():
    rich_text = drive(progress.make_renderer("rich", describe, io.StringIO()))
    assert "gemm:tiny on torch-cpu: ok, 1.000 ms/step" in rich_text
    assert drive(progress.make_renderer("quiet", describe, io.StringIO())) == ""


def test_quiet_renderer_still_names_a_failed_case():
    renderer = progress.make_renderer("quiet", lambda o: "failed (NumericsError: rank 1 differs)", io.StringIO())
    case = Case(kernel="gemm", preset="tiny", backend="torch-cpu", steps=5, repeats=2)
    renderer.on_case(1, 1, case, "start")
    renderer.on_case(1, 1, FakeOutcome(case, status="failed"), "done")
    renderer.finish("1 cases: 1 failed", {"failed": 1})
    assert renderer.stream.getvalue() == "[1/1] gemm:tiny on torch-cpu: failed (NumericsError: rank 1 differs)\n"
    assert isinstance(progress.make_renderer("auto", describe, io.StringIO()), progress.PlainRenderer)


@pytest.mark.slow
def test_run_reports_worker_phases_as_json_lines(cli, tmp_path):
    proc = cli("run", "--kernel", "gemm:tiny", "--backend", "torch-cpu", "--steps", "2", "--repeats", "2",
               "--warmup", "0", "--out", tmp_path / "out", "--progress", "jsonl")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stderr.splitlines()]  # every line is JSON
    labels = [e.get("label") for e in events if e["event"] == "phase"]
    assert labels[:2] == ["setting up", "compiling"] and labels[-2:] == ["timing", "timing"]
    assert [e["steps_done"] for e in events if e.get("label") == "timing"] == [0, 2]
    assert events[-2]["event"] == "case_done" and events[-2]["status"] == "ok"
    assert events[-1]["event"] == "run_done"
