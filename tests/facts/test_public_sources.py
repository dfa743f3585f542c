"""Every fact the package ships cites a source a user can open: a URL or a
named public document with a date, never a path outside the project (the
research notes the facts were first collected in are not part of it)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from accelbench.facts.catalog import load_devices

ROOT = Path(__file__).resolve().parents[2]
PRIVATE = "shared/" + "research"  # split so this file does not cite it itself


def tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if f != "tests/facts/test_public_sources.py" and (ROOT / f).is_file()]


def citing_files() -> list[str]:
    found = []
    for name in tracked_files():
        try:
            text = (ROOT / name).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary fixtures
        if PRIVATE in text:
            found.append(name)
    return found


def test_no_file_cites_a_path_outside_the_project():
    offenders = citing_files()
    assert offenders == [], f"files citing {PRIVATE} (cite the public source instead): {offenders}"


def test_every_device_entry_names_a_public_source_and_date():
    for key, spec in load_devices().items():
        assert spec.source.strip(), key
        assert "/work/" not in spec.source and not spec.source.startswith(("..", "/")), (key, spec.source)
        assert spec.as_of is not None, key
