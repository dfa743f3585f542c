"""Property tests per input surface, typed values (issue 21): a value of the wrong
type in a hand-edited suite, plan.json or references file is refused with one
line and exit 2, and nothing on disk changes; a report over hostile names warns
or renders them escaped. tests/harness/test_input_properties.py holds the byte-level ones."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accelbench.facts import catalog
from accelbench.harness import planfile
from accelbench.harness.cli import main
from accelbench.harness.plan import Case, PlanError, build_plan, typed_problem
from accelbench.reports.references import REFERENCES_FILE, load_references

FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])
NOT_BOOLEAN = st.one_of(st.text(max_size=6), st.integers(), st.floats(), st.lists(st.booleans(), max_size=2),
                        st.none())
NOT_INTEGER = st.one_of(st.text(max_size=6), st.booleans(), st.floats(), st.none())


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def one_error_line(err: str) -> bool:
    lines = err.strip().splitlines()
    return len(lines) == 1 and lines[0].startswith("accelbench: error: ")


# ------------------------------------------------------------------ typed values, one rule
@FEW
@given(NOT_BOOLEAN)
def test_a_boolean_field_takes_only_booleans(value):
    assert typed_problem(value, bool) is not None
    assert typed_problem(True, bool) is None and typed_problem(None, bool | None) is None


@FEW
@given(st.floats())
def test_a_float_field_takes_finite_numbers_only(x):
    assert (typed_problem(x, float) is None) == (x == x and abs(x) != float("inf"))


# ------------------------------------------------------------------ plan.json
def write_plan(folder: Path, case: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    planfile.write_plan(folder, [Case(kernel="gemm", preset="tiny", backend="torch-cpu")])
    data = json.loads((folder / "plan.json").read_text())
    data["cases"][0].update(case)
    (folder / "plan.json").write_text(json.dumps(data))


@FEW
@given(NOT_BOOLEAN.filter(lambda v: v is not None))
@example("false")
def test_plan_with_a_non_boolean_compile_is_refused_and_nothing_changes(tmp_path_factory, value):
    folder = tmp_path_factory.mktemp("plan")
    write_plan(folder, {"backend_settings": {"compile": value}})
    before = snapshot(folder)
    with pytest.raises(PlanError) as exc:
        planfile.load_plan(folder)
    assert "compile" in str(exc.value) and "\n" not in str(exc.value)
    assert snapshot(folder) == before


def test_resume_of_a_plan_with_a_string_boolean_exits_2_with_one_line(tmp_path, capsys):
    write_plan(tmp_path, {"kernel_settings": {"seed": "1"}, "backend_settings": {"compile": "false"}})
    before = snapshot(tmp_path)
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert one_error_line(capsys.readouterr().err)
    assert snapshot(tmp_path) == before


@FEW
@given(NOT_INTEGER.filter(lambda v: v is not None))
def test_plan_with_a_non_integer_kernel_size_is_refused(tmp_path_factory, value):
    folder = tmp_path_factory.mktemp("plan")
    write_plan(folder, {"kernel_settings": {"m": value}})
    with pytest.raises(PlanError) as exc:
        planfile.load_plan(folder)
    assert "\n" not in str(exc.value)


# ------------------------------------------------------------------ suite TOML
def toml_value(value) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


@FEW
@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers(), max_size=2)))
def test_suite_setting_of_the_wrong_type_is_refused(tmp_path_factory, value):
    folder = tmp_path_factory.mktemp("suite")
    suite = folder / "typed.toml"
    suite.write_text(f'kernels = ["gemm:tiny"]\nbackends = ["torch-cpu"]\n[settings]\ncompile = {toml_value(value)}\n')
    try:
        tomllib.loads(suite.read_text())
    except tomllib.TOMLDecodeError:
        return
    with pytest.raises(PlanError) as exc:
        build_plan(str(suite), [], [], [])
    assert "\n" not in str(exc.value)


def test_suite_with_a_wrong_type_exits_2_and_writes_nothing(tmp_path, capsys):
    suite = tmp_path / "typed.toml"
    suite.write_text('kernels = ["gemm:tiny"]\nbackends = ["torch-cpu"]\n[settings]\nthreads = 2.5\n')
    out = tmp_path / "out"
    assert main(["run", "--suite", str(suite), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert one_error_line(err) and "threads" in err
    assert not out.exists()


def test_suite_typed_values_are_taken_with_their_types(tmp_path):
    suite = tmp_path / "typed.toml"
    suite.write_text('kernels = ["gemm:tiny"]\nbackends = ["torch-cpu"]\n[settings]\ncompile = false\nthreads = 2\n')
    (case,) = build_plan(str(suite), [], [], [])
    assert case.backend_settings == {"compile": False, "threads": 2}


# ------------------------------------------------------------------ references
REFERENCES = tomllib.loads(REFERENCES_FILE.read_text())
FIRST = next(iter(REFERENCES["references"]))
DEVICES = catalog.load_devices()
PRICES = catalog.load_prices(devices=DEVICES)


def toml_dump(entry: dict) -> str:
    lines = [f'[references."{FIRST}"]']
    for key, value in entry.items():
        lines.append(f"{key} = {toml_value(value)}")
    return "\n".join(lines) + "\n"


@FEW
@given(st.sampled_from(sorted(REFERENCES["references"][FIRST])),
       st.one_of(st.text(max_size=8), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans()))
def test_a_mutated_reference_loads_or_is_one_catalog_error(tmp_path_factory, field, value):
    path = tmp_path_factory.mktemp("refs") / "references.toml"
    entry = dict(REFERENCES["references"][FIRST]) | {field: value}
    if any(not isinstance(v, (str, int, float, bool)) for v in entry.values()):
        return  # dates and tables: out of this test's TOML writer
    path.write_text(toml_dump(entry))
    try:
        refs = load_references(path, devices=DEVICES, prices=PRICES)
    except catalog.CatalogError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert FIRST in refs


# ------------------------------------------------------------------ names in plots and HTML
HOSTILE = ["<script>alert(1)</script>", "a\nb", "\u202eevil", "x" * 300, "&amp;\"'", "gemm:tiny/../../etc"]


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(HOSTILE))
def test_report_over_a_hostile_backend_name_escapes_it_or_warns(tmp_path_factory, name):
    from accelbench.harness.measure import new_record
    from accelbench.harness.records import write_record

    folder = tmp_path_factory.mktemp("names")
    record = new_record(Case(kernel="gemm", preset="tiny", backend="torch-cpu"), "run1", status="ok")
    record.backend.name = name
    record.timing.samples_s = [1e-3, 1.1e-3, 0.9e-3]
    record.timing.step_s = {"median": 1e-3, "ci95": [0.9e-3, 1.1e-3]}
    write_record(folder / "gemm-tiny--torch-cpu.json", record)
    html = folder / "r.html"
    assert main(["report", str(folder), "--md", str(folder / "r.md"), "--html", str(html)]) == 0
    text = html.read_text()
    assert "<script>alert" not in text and "\u202e" not in text.replace("&#8238;", "")
