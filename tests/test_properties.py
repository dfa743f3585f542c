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
from accelbench.harness.plan import SUITES_DIR, Case, PlanError, build_plan, load_suite, parse_assignment
from accelbench.harness.records import STATUSES, RecordError, load_record, write_record
from accelbench.harness.worker import new_record

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
        assert not math.isfinite(x) and "finite" in str(exc)
        return
    assert case.kernel_settings["lr"] == x


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
catalog = pytest.importorskip("accelbench.harness.catalog")
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
