"""Progress of a run on the terminal: which case, its phase, steps, elapsed time.

A case runs in its own process (``python -m accelbench.harness.launch``), so its phases (setup,
compiling, numerics, warming up, timing) happen there. The worker appends one
JSON line per phase to the file named by ``ACCELBENCH_PROGRESS_FILE``
(``emit``); the runner, while it waits for the worker, reads the new lines and
hands each event to an ``on_event`` callback (``wait_relaying``); the CLI
renders them with a ``Renderer``:

* ``rich``: a live status line per case (a spinner, the phase, timed steps
  done of all, elapsed time) and a line per finished case; the default when
  stderr is a terminal;
* ``plain``: one line per case start, phase change and result; the default
  otherwise (logs, CI);
* ``jsonl``: every event as one JSON line on stderr, for scripts;
* ``quiet`` (``--quiet``): nothing but errors.

Progress writes happen between phases and between timed repeats, never
inside the timed window.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

ENV_VAR = "ACCELBENCH_PROGRESS_FILE"
EVENTS_SUFFIX = ".events"
MODES = ("auto", "rich", "plain", "jsonl", "quiet")
POLL_S = 0.2

PHASE_LABELS = {
    "setup": "setting up",
    "compile and first step": "compiling",
    "numerics steps": "checking numerics",
    "warm-up steps": "warming up",
}
"""Short labels for the worker's checkpoint phases; timed repeats show as 'timing'."""


def phase_label(phase: str) -> str:
    return "timing" if phase.startswith("timed steps") else PHASE_LABELS.get(phase, phase)


# ------------------------------------------------------------- worker side
def emit(phase: str, path: str | None = None, **fields: Any) -> None:
    """Append one phase event for the runner (no-op unless ``ACCELBENCH_PROGRESS_FILE`` is set)."""
    path = path or os.environ.get(ENV_VAR)
    if not path or os.environ.get("RANK", "0") != "0":  # data-parallel: rank 0 speaks for the case
        return
    event = {"event": "phase", "phase": phase, "label": phase_label(phase), "t": time.time(), **fields}
    try:
        with open(path, "a") as f:
            f.write(json.dumps(event) + "\n")
    except OSError:
        pass  # progress is a courtesy; it never costs a measurement


# ------------------------------------------------------------- runner side
@dataclass
class EventTail:
    """Reads the complete JSON lines appended to a file since the last read."""

    path: Path
    offset: int = 0
    partial: str = ""

    def read(self) -> list[dict[str, Any]]:
        try:
            with open(self.path) as f:
                f.seek(self.offset)
                chunk = f.read()
                self.offset = f.tell()
        except FileNotFoundError:
            return []
        lines = (self.partial + chunk).split("\n")
        self.partial = lines.pop()  # an unfinished last line waits for the next read
        events = []
        for line in lines:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events


def wait_relaying(proc: subprocess.Popen, timeout_s: float, events_path: Path | None,
                  on_event: Callable[[dict[str, Any]], None] | None) -> int:
    """``proc.wait(timeout_s)`` that hands the worker's progress events to
    ``on_event`` while it waits; raises ``subprocess.TimeoutExpired`` as wait does."""
    if on_event is None or events_path is None:
        return proc.wait(timeout=timeout_s)
    tail = EventTail(Path(events_path))
    deadline = time.monotonic() + timeout_s
    while True:
        remaining = deadline - time.monotonic()
        try:
            code = proc.wait(timeout=max(0.0, min(POLL_S, remaining)))
        except subprocess.TimeoutExpired:
            for event in tail.read():
                on_event(event)
            if time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(proc.args, timeout_s) from None
            continue
        for event in tail.read():
            on_event(event)
        return code


# ---------------------------------------------------------------- CLI side
@dataclass
class Renderer:
    """Turns the runner's callbacks into output. ``describe(outcome)`` gives
    the one-line result of a finished case (the CLI's wording)."""

    describe: Callable[[Any], str]
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    current: Any = None
    index: int = 0
    total: int = 0
    started: float = 0.0
    phase: str = ""
    steps_done: int | None = None

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def on_case(self, i: int, n: int, item: Any, what: str) -> None:
        self.index, self.total = i, n
        if what == "start":
            self.current, self.started, self.phase, self.steps_done = item, time.monotonic(), "starting", None
            self.case_started(item)
        else:
            self.case_done(item, what == "resumed")
            self.current = None

    def on_event(self, event: dict[str, Any]) -> None:
        self.phase = event.get("label") or phase_label(str(event.get("phase", "")))
        self.steps_done = event.get("steps_done")
        self.phase_changed(event)

    def finish(self, summary_line: str, counts: dict[str, int]) -> None:
        print(summary_line, file=self.stream, flush=True)

    # hooks
    def case_started(self, case) -> None:
        pass

    def case_done(self, outcome, resumed: bool) -> None:
        pass

    def phase_changed(self, event: dict[str, Any]) -> None:
        pass

    # shared wording
    def prefix(self) -> str:
        return f"[{self.index}/{self.total}]"

    def steps_text(self) -> str:
        case = self.current
        if self.steps_done is None or case is None:
            return ""
        return f", {self.steps_done}/{case.steps * case.repeats} timed steps"

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class QuietRenderer(Renderer):
    def case_done(self, outcome, resumed) -> None:
        if outcome.status == "failed":  # an error: the one thing --quiet still says
            print(f"{self.prefix()} {outcome.case.label}: {self.describe(outcome)}", file=self.stream, flush=True)

    def finish(self, summary_line: str, counts: dict[str, int]) -> None:
        pass


class PlainRenderer(Renderer):
    def case_started(self, case) -> None:
        print(f"{self.prefix()} {case.label} ...", file=self.stream, flush=True)

    def phase_changed(self, event) -> None:
        if self.current is not None:
            print(f"{self.prefix()} {self.current.label}: {self.phase}{self.steps_text()} "
                  f"({self.elapsed():.1f} s)", file=self.stream, flush=True)

    def case_done(self, outcome, resumed) -> None:
        kept = " (kept from an earlier run)" if resumed else ""
        print(f"{self.prefix()} {outcome.case.label}: {self.describe(outcome)}{kept}", file=self.stream, flush=True)


class JsonlRenderer(Renderer):
    def write(self, event: dict[str, Any]) -> None:
        print(json.dumps(event, default=str), file=self.stream, flush=True)

    def case_started(self, case) -> None:
        self.write({"event": "case_start", "index": self.index, "total": self.total, "case": case.label,
                    "case_id": case.case_id, "t": time.time()})

    def phase_changed(self, event) -> None:
        case = self.current
        self.write({**event, "index": self.index, "case": case.label if case else None,
                    "case_id": case.case_id if case else None, "elapsed_s": round(self.elapsed(), 3)})

    def case_done(self, outcome, resumed) -> None:
        self.write({"event": "case_done", "index": self.index, "total": self.total, "case": outcome.case.label,
                    "case_id": outcome.case.case_id, "status": outcome.status, "resumed": resumed,
                    "summary": self.describe(outcome), "record": str(outcome.path), "wall_s": outcome.wall_s,
                    "t": time.time()})

    def finish(self, summary_line: str, counts: dict[str, int]) -> None:
        self.write({"event": "run_done", "counts": counts, "summary": summary_line, "t": time.time()})


class RichRenderer(Renderer):
    """A live line for the running case (refreshed by rich four times a second,
    so the elapsed time moves during a long compile) above the finished ones."""

    def __enter__(self) -> "RichRenderer":
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.console = Console(file=self.stream)
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=self.console, transient=True)
        self.task = None
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def live_text(self) -> str:
        case = self.current
        return f"{self.prefix()} {case.label}: {self.phase}{self.steps_text()}" if case else ""

    def case_started(self, case) -> None:
        self.task = self.progress.add_task(self.live_text(), total=None)

    def phase_changed(self, event) -> None:
        if self.task is not None:
            self.progress.update(self.task, description=self.live_text())

    def case_done(self, outcome, resumed) -> None:
        if self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None
            self.progress.refresh()
        kept = " (kept from an earlier run)" if resumed else ""
        self.console.print(f"{self.prefix()} {outcome.case.label}: {self.describe(outcome)}{kept}",
                           highlight=False, markup=False)


def make_renderer(mode: str, describe: Callable[[Any], str], stream: TextIO | None = None) -> Renderer:
    """The renderer for ``--progress MODE`` (``auto``: rich on a terminal, plain otherwise)."""
    stream = stream or sys.stderr
    if mode not in MODES:
        raise ValueError(f"unknown progress mode '{mode}'; accepted: {', '.join(MODES)}")
    if mode == "auto":
        mode = "rich" if stream.isatty() else "plain"
    if mode == "rich":
        try:
            import rich  # noqa: F401
        except ImportError:  # rich is optional: plain lines say the same
            mode = "plain"
    cls = {"rich": RichRenderer, "plain": PlainRenderer, "jsonl": JsonlRenderer, "quiet": QuietRenderer}[mode]
    return cls(describe=describe, stream=stream)


__all__ = ["ENV_VAR", "EVENTS_SUFFIX", "MODES", "EventTail", "Renderer", "emit", "make_renderer", "phase_label",
           "wait_relaying"]


def closing_marks(records: list[dict | None]) -> str:
    """The pricing part of `accelbench run`'s closing line: what was charged
    and the marks of those prices ('' when nothing was priced)."""
    from accelbench.harness.cost import MARKS

    costs = [r.get("cost") for r in records if isinstance(r, dict) and isinstance(r.get("cost"), dict)]
    if not costs:
        return ""
    charged = sorted({round(c["usd_per_hour"], 6) for c in costs if isinstance(c.get("usd_per_hour"), (int, float))})
    shown = ", ".join(f"${v:g}/h" for v in charged[:3]) + (", ..." if len(charged) > 3 else "")
    withheld = sum(1 for c in costs if c.get("withheld"))
    marks = [m for m in MARKS if any(m in (c.get("marks") or []) for c in costs)]
    return ((f"; charged {shown} of a whole-instance price" if charged else "")
            + (f"; {withheld} price{'s' if withheld != 1 else ''} withheld (cost.withheld)" if withheld else "")
            + (f"; prices marked: {', '.join(marks)} (cost.marks)" if marks else "; prices unmarked"))
