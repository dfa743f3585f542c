"""Property-based tests: whatever a user types or a file holds, the loaders
answer with a value or with their one error class (PlanError, RecordError,
CatalogError), never with a traceback. Random bytes, truncated files and
mutated files included."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from accelbench.harness import planfile
from accelbench.harness.plan import Case, PlanError, build_plan, parse_assignment
from accelbench.harness.suite_file import SUITES_DIR, load_suite
from accelbench.harness.records import STATUSES, RecordError, load_record, write_record
from accelbench.harness.measure import new_record

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""build_plan reads the backend entry points (~50 ms a call here), so those tests take fewer examples."""

SMOKE_TEXT = (SUITES_DIR / "smoke.toml").read_bytes()
KNOWN_KEYS = ["batch", "lr", "n_layer", "seq_len", "seed", "precision", "compile", "threads", "m", "nosuch"]


_SCRATCH = tempfile.TemporaryDirectory(prefix="accelbench-properties-")  # removed when the run ends


def written(data: bytes, name: str) -> Path:
    """``data`` as the only file of a folder of its own (one folder per file name)."""
    path = Path(_SCRATCH.name) / Path(name).stem / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def truncations(whole: bytes):
    return st.integers(0, len(whole)).map(lambda n: whole[:n])


def mutations(whole: bytes):
    return st.tuples(st.integers(0, len(whole) - 1), st.binary(min_size=1, max_size=3)).map(
        lambda t: whole[: t[0]] + t[1] + whole[t[0] + len(t[1]):]
    )


def any_bytes(whole: bytes):
    return st.one_of(st.binary(max_size=400), truncations(whole), mutations(whole))


# ----------------------------------------------------------- --set parser
@SETTINGS
@given(st.text(max_size=40))
def test_parse_assignment_gives_a_key_or_plan_error(item):
    try:
        key, value = parse_assignment(item)
    except PlanError as exc:
        assert "expected key=value" in str(exc)
        return
    assert key and key == key.strip() and "=" not in key
    assert item.partition("=")[2].strip() == value


@FEW
@given(st.lists(st.tuples(st.sampled_from(KNOWN_KEYS), st.text(max_size=12)), max_size=4))
def test_set_items_become_typed_settings_or_plan_error(pairs):
    items = [f"{k}={v}" for k, v in pairs]
    try:
        cases = build_plan(None, ["gpt2:tiny"], ["torch-cpu"], items)
    except PlanError:
        return
    (case,) = cases
    for key, value in {**case.kernel_settings, **case.backend_settings}.items():
        assert key in KNOWN_KEYS
        if isinstance(value, float):
            assert math.isfinite(value)
        if key in ("batch", "n_layer", "seq_len"):
            assert isinstance(value, int) and value >= 1


@FEW
@given(st.integers(-10**6, 10**6))
def test_integer_sizes_must_be_positive(n):
    try:
        (case,) = build_plan(None, ["gpt2:tiny"], ["torch-cpu"], [f"batch={n}"])
    except PlanError as exc:
        assert n < 1 and "must be >= 1" in str(exc)
        return
    assert n >= 1 and case.kernel_settings["batch"] == n


@FEW
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_float_settings_round_trip_and_reject_nan_and_infinity(x):
    try:
        (case,) = build_plan(None, ["gpt2:tiny"], ["torch-cpu"], [f"lr={x!r}"])
    except PlanError as exc:
        assert (not math.isfinite(x) and "finite" in str(exc)) or (x < 0 and "must be 0 or more" in str(exc))
        return
    assert x >= 0 and case.kernel_settings["lr"] == x


# ----------------------------------------------------------- suite files
@FEW
@given(any_bytes(SMOKE_TEXT))
@example(b"kernels = [" * 5000)
@example(SMOKE_TEXT)
def test_suite_file_loads_or_plan_error(data):
    path = written(data, "suite.toml")
    try:
        suite = load_suite(str(path))
    except PlanError as exc:
        assert str(path) in str(exc)
        return
    assert suite.kernels and suite.backends
    try:
        build_plan(str(path), [], [], [])
    except PlanError:
        pass


# ---------------------------------------------------------- result files
def _valid_record_bytes() -> bytes:
    record = new_record(Case(kernel="gemm", preset="tiny", backend="torch-cpu"), "run1", status="ok")
    record.timing.samples_s = [1e-3, 2e-3, float("nan")]
    path = written(b"", "r.json")
    write_record(path, record)
    return path.read_bytes()


RECORD_BYTES = _valid_record_bytes()
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@SETTINGS
@given(any_bytes(RECORD_BYTES))
@example(b"[" * 100_000)
@example(b"1" * 5000)
@example(RECORD_BYTES)
def test_result_file_loads_or_record_error(data):
    path = written(data, "case.json")
    try:
        record = load_record(path)
    except RecordError as exc:
        assert str(path) in str(exc) and "\n" not in str(exc)
        return
    assert record["status"] in STATUSES and isinstance(record["kernel"]["name"], str)


@SETTINGS
@given(JSON_VALUES, st.sampled_from(STATUSES))
def test_any_json_in_a_record_file_loads_or_record_error(value, status):
    candidates = [value, {"schema": "accelbench.result/1", "status": status, "run_id": "r", "kernel": value,
                          "backend": {"name": "torch-cpu"}}]
    for data in candidates:
        path = written(json.dumps(data).encode(), "case.json")
        try:
            load_record(path)
        except RecordError:
            pass


def test_truncations_of_a_record_are_refused():
    end = len(RECORD_BYTES.rstrip())
    for n in [*range(0, end, max(1, end // 150)), *range(max(0, end - 12), end)]:
        with pytest.raises(RecordError):
            load_record(written(RECORD_BYTES[:n], "case.json"))


@FEW
@given(any_bytes(RECORD_BYTES))
@example(b"[" * 100_000)
@example(b"1" * 5000)
def test_report_loader_skips_bad_files_with_a_warning(data):
    from accelbench.reports.load import load_folders

    path = written(data, "case.json")
    loaded = load_folders([path.parent])
    assert len(loaded.records) + len(loaded.warnings) == 1


# ------------------------------------------------------------ plan files
PLAN_BYTES = json.dumps({"schema": "accelbench.plan/1", "cases": [
    Case(kernel="gemm", preset="tiny", backend="torch-cpu").to_dict(),
    Case(kernel="gpt2", preset="tiny", backend="jax-cpu", kernel_settings={"batch": 3}).to_dict(),
]}).encode()


@FEW
@given(any_bytes(PLAN_BYTES))
@example(PLAN_BYTES)
def test_plan_file_loads_or_plan_error(data):
    path = written(data, "plan.json")
    try:
        cases = planfile.load_plan(path.parent)
    except PlanError as exc:
        assert "\n" not in str(exc)
        return
    assert cases and all(isinstance(c, Case) for c in cases)


# ------------------------------------------------------------ price files
catalog = pytest.importorskip("accelbench.facts.catalog")
PRICES_BYTES = catalog.PRICES_FILE.read_bytes()
DEVICES = catalog.load_devices()


@FEW
@given(any_bytes(PRICES_BYTES))
@example(PRICES_BYTES)
@example(b"[instances." * 3000)
def test_price_file_loads_or_catalog_error(data):
    path = written(data, "prices.toml")
    try:
        prices = catalog.load_prices(path, devices=DEVICES)
    except catalog.CatalogError as exc:
        assert "\n" not in str(exc)
        return
    assert prices and all(p.usd_per_hour > 0 for p in prices.values() if p.usd_per_hour is not None)


# ------------------------------------------- report and compare on mutated records
GOOD_RECORD = None


def good_record() -> dict:
    """An ok record with every field a report reads (priced, MFU, samples)."""
    global GOOD_RECORD
    if GOOD_RECORD is None:
        import sys

        sys.path.insert(0, str(Path(__file__).parents[1]))
        from conftest import synthetic

        rec = synthetic(cost={"usd_per_mtok": 1.5, "usd_per_mtok_ci95": [1.4, 1.6], "instance": "p5.48xlarge",
                              "marks": ["what-if"], "price_source": "p5.48xlarge, aws.amazon.com"})
        rec.metrics.mfu, rec.metrics.peak_mem_bytes = 0.3, 2**30
        GOOD_RECORD = rec.to_dict()
        GOOD_RECORD["timing"]["unstable"] = []
    return json.loads(json.dumps(GOOD_RECORD))


MUTABLE_FIELDS = [
    "status", "run_id", "created_at", "kernel", "kernel.name", "kernel.preset", "kernel.config", "kernel.tokens_per_step",
    "kernel.flops_per_step", "kernel.flop_convention", "backend", "backend.name", "backend.device_kind",
    "backend.device_count", "backend.precision", "backend.settings", "backend.info", "backend.info.device",
    "backend.info.device.chip_share", "timing", "timing.step_s",
    "timing.step_s.median", "timing.step_s.ci95", "timing.samples_s", "timing.compile_s", "timing.unstable",
    "metrics", "metrics.tokens_per_s", "metrics.mfu", "metrics.tflops", "metrics.peak_mem_bytes", "metrics.errors",
    "numerics", "numerics.passed", "cost", "cost.usd_per_mtok", "cost.usd_per_mtok_ci95", "cost.marks", "env",
]
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30), st.just(10**400), st.just(-(10**400)),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["nan", "inf", "-inf", "12", "", "ok", "–"]),
    st.text(max_size=8), st.lists(st.one_of(st.integers(-5, 5), st.floats(-1, 1), st.text(max_size=3)), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(-3, 3), max_size=2),
)


def set_field(record: dict, dotted: str, value) -> None:
    *parents, last = dotted.split(".")
    target = record
    for part in parents:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[last] = value


def run_quietly(argv: list[str]) -> tuple[int, str]:
    """The real command line in this process, stdout and stderr captured (no pytest fixture: hypothesis reruns it)."""
    import contextlib
    import io

    from accelbench.harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)  # a traceback would raise out of here and fail the test
    return code, err.getvalue()


@pytest.mark.slow
@settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(MUTABLE_FIELDS), ODD_VALUES), min_size=1, max_size=3))
@example([("timing.step_s.median", -0.1)])
@example([("timing.samples_s", [-0.1, -0.2, -0.1])])
@example([("metrics.tokens_per_s", "12")])
@example([("kernel.tokens_per_step", 10**400)])
@example([("timing.step_s.median", 1e300)])
def test_report_and_compare_treat_a_mutated_record_as_one_bad_file(mutations):
    from accelbench.harness.records import RecordError, load_record
    from accelbench.reports.validate import record_problem

    with tempfile.TemporaryDirectory() as tmp:
        old, new = Path(tmp) / "old", Path(tmp) / "new"
        old.mkdir(), new.mkdir()
        steady = good_record()
        for folder in (old, new):
            (folder / "steady.json").write_text(json.dumps(steady))
            (folder / "case.json").write_text(json.dumps(good_record() | {"kernel": steady["kernel"] | {"preset": "other"}}))
        mutated = good_record() | {"kernel": steady["kernel"] | {"preset": "other"}}
        for dotted, value in mutations:
            set_field(mutated, dotted, value)
        try:
            text = json.dumps(mutated)
        except ValueError:  # an integer too large for json's own int->str limit: write it as JSON would hold it
            text = json.dumps(mutated, default=str)
        (new / "case.json").write_text(text)
        try:
            bad = record_problem(load_record(new / "case.json")) is not None
        except RecordError:
            bad = True

        code, err = run_quietly(["report", str(new)])
        warnings = [line for line in err.splitlines() if line.startswith("accelbench: warning:")]
        assert code == 0, err
        assert "Traceback" not in err and all(line.startswith("accelbench: ") for line in err.splitlines()), err
        assert len([w for w in warnings if "case.json" in w]) == (1 if bad else 0), (mutations, warnings)

        code, err = run_quietly(["compare", str(old), str(new)])
        assert code in (0, 1), err
        assert "Traceback" not in err and all(line.startswith("accelbench: ") for line in err.splitlines()), err
        warnings = [line for line in err.splitlines() if line.startswith("accelbench: warning:")]
        assert len([w for w in warnings if "case.json" in w]) == (1 if bad else 0), (mutations, warnings)
        if bad:
            assert code == 1, "the case is missing from NEW once its file is skipped"
