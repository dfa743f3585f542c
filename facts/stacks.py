"""The Neuron software stacks of ``data/stacks.toml``: which Trainium path
runs on which instance family, with which pinned packages, and why. One
place for these facts: ``accelbench backends``, the torch-xla refusal on
Neuron, the README's "Trainium software stack" table and the cloud recipes'
pins (checked by tests/facts/test_neuron_stacks.py) all follow it.

A malformed entry raises ``StackError`` (a ``CatalogError``) with one line
naming the file, the entry and the field: ``cli.main`` turns it into exit
status 2."""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from accelbench.facts.catalog import CatalogError

STACKS_FILE = Path(__file__).resolve().parent / "data" / "stacks.toml"
FIELDS = {"backends", "instances", "neuron_sdk", "released", "pip", "driver", "image", "why", "sources", "as_of",
          "unconfirmed", "note"}
XLA_TRAINING_ENDED = ("AWS ended PyTorch/XLA training on Neuron with Neuron 2.30 (torch-neuronx 2.9, for PyTorch 2.9, "
                      "was the last XLA-based release): on trn2/trn3 use the torch-neuron backend (TorchNeuron); "
                      "on trn1, torch-xla needs the Neuron 2.29 stack")


class StackError(CatalogError):
    """stacks.toml is malformed; the message names file, entry and field."""


@dataclass(frozen=True)
class Stack:
    name: str
    backends: tuple[str, ...]
    instances: tuple[str, ...]
    neuron_sdk: str
    released: dt.date
    pip: tuple[tuple[str, str], ...]
    """(package, requirement) in the order the recipes install them."""
    driver: str
    image: str
    why: str
    sources: tuple[str, ...]
    as_of: dt.date
    unconfirmed: tuple[str, ...] = ()
    note: str = ""

    @property
    def pip_spec(self) -> str:
        """The requirements as one pip command line: what a recipe's *_SPEC variable holds."""
        return " ".join(f"{package}{requirement}" for package, requirement in self.pip)

    def summary(self) -> str:
        return (f"Neuron {self.neuron_sdk} on {', '.join(self.instances)}: {self.pip_spec}; driver {self.driver}"
                f"{' (unconfirmed)' if 'driver' in self.unconfirmed else ''}")


def _entry(path: Path, name: str, raw: dict) -> Stack:
    def fail(field: str, problem: str) -> StackError:
        return StackError(f"{path}: stack '{name}': field '{field}': {problem}")

    unknown = set(raw) - FIELDS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown field; accepted: {', '.join(sorted(FIELDS))}")
    for field in FIELDS - {"note", "unconfirmed"}:
        if field not in raw:
            raise fail(field, "missing")
    for field in ("backends", "instances", "sources"):
        value = raw[field]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise fail(field, "must be a non-empty list of strings")
    for field in ("released", "as_of"):
        if not isinstance(raw[field], dt.date):
            raise fail(field, f"must be a date (YYYY-MM-DD), got {raw[field]!r}")
    pip = raw["pip"]
    if not isinstance(pip, dict) or not pip:
        raise fail("pip", "must be a table of package = \"==version\"")
    for package, requirement in pip.items():
        if not isinstance(requirement, str) or not requirement.startswith("=="):
            raise fail("pip", f"'{package}' must be pinned with '==', got {requirement!r}")
    for source in raw["sources"]:
        if not source.startswith("https://"):
            raise fail("sources", f"'{source}' is not a public URL")
    unconfirmed = raw.get("unconfirmed", [])
    if not isinstance(unconfirmed, list) or set(unconfirmed) - FIELDS:
        raise fail("unconfirmed", f"must list fields of the entry, got {unconfirmed!r}")
    return Stack(name=name, backends=tuple(raw["backends"]), instances=tuple(raw["instances"]),
                 neuron_sdk=str(raw["neuron_sdk"]), released=raw["released"], pip=tuple(pip.items()),
                 driver=str(raw["driver"]), image=str(raw["image"]), why=str(raw["why"]),
                 sources=tuple(raw["sources"]), as_of=raw["as_of"], unconfirmed=tuple(unconfirmed),
                 note=str(raw.get("note", "")))


def parse_stacks(text: str, path: Path = STACKS_FILE) -> dict[str, Stack]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StackError(f"{path}: not valid TOML: {exc}") from None
    stacks = data.get("stacks")
    if not isinstance(stacks, dict) or not stacks:
        raise StackError(f"{path}: no [stacks.NAME] entries")
    return {name: _entry(path, name, raw) for name, raw in stacks.items()}


@lru_cache(maxsize=1)
def load_stacks() -> dict[str, Stack]:
    return parse_stacks(STACKS_FILE.read_text(encoding="utf-8"))


def for_backend(backend: str) -> list[Stack]:
    """The stacks a backend runs on (empty for backends with no pinned Neuron stack)."""
    return [s for s in load_stacks().values() if backend in s.backends]


def satisfies(requirement: str, version: str | None) -> bool:
    """Whether ``version`` meets a pin of this file: ``==X`` (release equal, zeros padded, a local
    ``+label`` ignored, as PEP 440 compares) or ``==X.*`` (the release starts with X)."""
    if version is None or not requirement.startswith("=="):
        return False
    release = version.split("+")[0].split(".")
    wanted = requirement[2:]
    if wanted.endswith(".*"):
        prefix = wanted[:-2].split(".")
        return release[:len(prefix)] == prefix
    pins = wanted.split(".")
    width = max(len(pins), len(release))
    return [*pins, *["0"] * (width - len(pins))] == [*release, *["0"] * (width - len(release))]


def problems(stack: Stack, installed: dict[str, str | None]) -> list[str]:
    """What differs between a virtual environment's packages and ``stack``'s pins (empty: it agrees)."""
    return [f"{package} {installed.get(package) or 'not installed'}, pinned {requirement}"
            for package, requirement in stack.pip if not satisfies(requirement, installed.get(package))]


def main(argv: list[str]) -> int:
    """``python -m accelbench.facts.stacks check STACK``: ci/cloud/setup_venv.sh runs it after installing."""
    from importlib.metadata import PackageNotFoundError, version

    if len(argv) != 2 or argv[0] != "check" or argv[1] not in load_stacks():
        print(f"usage: python -m accelbench.facts.stacks check STACK; stacks: {', '.join(load_stacks())}")
        return 2
    stack = load_stacks()[argv[1]]
    installed: dict[str, str | None] = {}
    for package, _ in stack.pip:
        try:
            installed[package] = version(package)
        except PackageNotFoundError:
            installed[package] = None
    found = problems(stack, installed)
    print(f"stack {stack.name}: " + ("; ".join(found) if found else f"agrees with facts/data/stacks.toml "
                                                                       f"(Neuron {stack.neuron_sdk})"))
    return 1 if found else 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
