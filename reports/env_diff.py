"""What changed in the software and hardware stack between two sets of
records: one line per ``env`` field whose values differ, so ``compare`` can
tell a regression from an upgrade (a new driver, CUDA, torch or Neuron
compiler moves step times as surely as a code change does)."""

from __future__ import annotations

from accelbench.facts import envinfo

NOT_COMPARED = ("host", "git_commit", "platform")
"""Fields that differ between any two runs by design (the host's name, accelbench's own
commit) or repeat another field (``platform`` is the kernel and the C library, both
recorded on their own)."""


def compared_fields() -> tuple[str, ...]:
    return tuple(k for k in envinfo.report_keys() if k not in NOT_COMPARED)


def _values(records: list[dict], key: str) -> list[str]:
    """The distinct values of ``env[key]`` over ``records``, in order; "none" for null."""
    seen: dict[str, None] = {}
    for record in records:
        env = record.get("env") if isinstance(record.get("env"), dict) else None
        if env is None:
            continue  # a record without env says nothing about the stack
        value = env.get(key)
        seen.setdefault("none" if value is None else str(value), None)
    return list(seen)


def env_differences(old: list[dict], new: list[dict], old_name: str = "OLD", new_name: str = "NEW") -> list[str]:
    """One line per compared ``env`` field whose values differ between ``old`` and ``new``."""
    lines = []
    for key in compared_fields():
        before, after = _values(old, key), _values(new, key)
        if before and after and before != after:
            lines.append(f"environment differs: {key} {', '.join(before)} in {old_name}, {', '.join(after)} in "
                         f"{new_name}: a change in step time may come from it")
    return lines
