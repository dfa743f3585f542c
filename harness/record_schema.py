"""The result record's field paths and types, derived once from its dataclasses
(``harness.records.ResultRecord`` and the parts it holds as plain tables:
``timing.step_s`` is a ``harness.stats.StepStats``, ``cost`` a
``harness.cost.CostPart``, ``backend.info.device`` a ``backends.base.DeviceInfo``).

Readers name a field as an attribute path, ``RECORD.timing.step_s.median``,
not a dotted string spelled by hand: a misspelt name fails on import
(AttributeError naming the fields there are), and the validator derives its
checks from the declared types. Below a table with no declared shape
(``backend.info``, ``env``) keys are free: ``RECORD.backend.info.key("parallel")``.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from accelbench.backends.base import DeviceInfo
from accelbench.harness.cost import CostPart
from accelbench.harness.records import ResultRecord
from accelbench.harness.stats import StepStats

SHAPES: dict[tuple[str, ...], type] = {
    ("timing", "step_s"): StepStats,
    ("cost",): CostPart,
    ("backend", "info", "device"): DeviceInfo,
}
"""Tables the record stores as plain JSON objects whose shape is a dataclass of their writer."""


@dataclass(frozen=True)
class Field:
    parts: tuple[str, ...]
    kind: Any = Any
    """The declared type (``float | None``, ``list[str]`` ...); Any below an undeclared table."""
    children: dict[str, "Field"] = field(default_factory=dict, compare=False, repr=False)
    free: bool = False
    """A table whose keys the schema leaves open (``dict[str, Any]`` or Any)."""

    def __str__(self) -> str:
        return ".".join(self.parts)

    def __getattr__(self, name: str) -> "Field":
        children = self.__dict__.get("children") or {}
        if name in children:
            return children[name]
        if name.startswith("__"):
            raise AttributeError(name)
        known = ", ".join(children) or "none: a free table, use .key(name)"
        raise AttributeError(f"record field {'.'.join(self.parts + (name,))} is not in the schema; known: {known}")

    def key(self, name: str) -> "Field":
        """A key below a table whose keys the schema leaves free (``backend.info``, ``env``)."""
        if name in self.children or not self.free:
            return getattr(self, name)
        return Field(self.parts + (name,), free=True)

    def get(self, record: Any) -> Any:
        """The value in ``record`` (a loaded JSON object), None where a part is missing or not a table."""
        value = record
        for part in self.parts:
            if not isinstance(value, dict):
                return None
            value = value.get(part)
        return value

    def leaves(self) -> list["Field"]:
        """Every declared field at or below this one, depth first."""
        out = [self] if self.parts else []
        for child in self.children.values():
            out += child.leaves()
        return out


def _fields_of(cls: type, parts: tuple[str, ...]) -> dict[str, Field]:
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        path = parts + (f.name,)
        shape = SHAPES.get(path)
        nested = shape or (hints[f.name] if dataclasses.is_dataclass(hints[f.name]) else None)
        children = _fields_of(nested, path) if nested else {}
        for below, cls in SHAPES.items():  # a declared table inside a free one (backend.info.device)
            if not nested and len(below) == len(path) + 1 and below[:-1] == path:
                children[below[-1]] = Field(below, cls, _fields_of(cls, below), free=True)
        # a plain table (dict) stays open to keys beyond its declared shape: older records carry some
        out[f.name] = Field(path, hints[f.name], children, free=dict in base_types(hints[f.name]))
    return out


def base_types(kind: Any) -> set:
    """The plain types a declared type allows (``float | None`` -> {float, NoneType};
    ``list[str]`` -> {list}); empty for Any."""
    if kind is Any:
        return set()
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return set().union(*(base_types(arg) for arg in typing.get_args(kind)))
    return {origin or kind}


def item_type(kind: Any) -> Any:
    """The element type of a ``list[X]`` (or ``list[X] | None``), else None."""
    for arg in (kind, *typing.get_args(kind)):
        if typing.get_origin(arg) in (list, tuple) and typing.get_args(arg):
            return typing.get_args(arg)[0]
    return None


RECORD = Field((), ResultRecord, _fields_of(ResultRecord, ()))
"""The root: ``RECORD.metrics.mfu``, ``RECORD.timing.step_s.ci95`` ..."""


def path(dotted: str) -> Field:
    """The field at ``dotted``; AttributeError when the schema has no such field (free tables excepted)."""
    node = RECORD
    for part in dotted.split("."):
        node = node.key(part)
    return node
