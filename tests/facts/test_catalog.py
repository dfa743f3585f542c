"""The device catalog and the price list: every entry sourced and dated, and
every malformed file rejected with one line naming file, entry and problem."""

from __future__ import annotations

import datetime as dt
import json
import textwrap

import pytest
from conftest import assert_one_line_error
from fakes import GOOD_PRICE

from accelbench.facts import catalog
from accelbench.facts.catalog import CatalogError, load_devices, load_prices

CONTRACT_KEYS = {
    "trn1", "trn2", "trn3", "a100-sxm-40gb", "a100-sxm-80gb", "h100-sxm", "h100-pcie", "h200", "b200", "l4",
    "a10g", "mi300x", "mi325x", "mi355x", "tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e", "tpu7x",
    "gb200", "b300", "gb300",
}


# ------------------------------------------------------------------ the shipped catalogs
def test_device_catalog_has_every_contract_key_with_source_and_date():
    devices = load_devices()
    assert set(devices) == CONTRACT_KEYS
    for spec in devices.values():
        assert spec.source and isinstance(spec.as_of, dt.date), spec.key
        assert spec.peak_tflops and all(v > 0 for v in spec.peak_tflops.values()), spec.key
        assert "bf16" in spec.peak_tflops, f"{spec.key}: every accelerator has a bf16 peak"
        assert spec.memory_gb > 0 and spec.memory_tbps > 0


def test_cores_per_chip_with_sources():
    """Physical cores per chip: trn1 2, trn2 8, trn3 8, TPU7x 2 without megacore, v4/v5p 2 fused by
    megacore (one device per chip), the rest 1; every multi-core entry names its source."""
    devices = load_devices()
    expected = {"trn1": (2, False), "trn2": (8, False), "trn3": (8, False), "tpu7x": (2, False),
                "tpu-v4": (2, True), "tpu-v5p": (2, True)}
    for key, spec in devices.items():
        assert (spec.cores_per_chip, spec.megacore) == expected.get(key, (1, False)), key
        if spec.cores_per_chip > 1:
            assert spec.cores_source, key


def test_catalog_refresh_2026_11():
    """Figures read 2026-11 in secondary public sources, each entry unconfirmed and saying where it came from."""
    devices, prices = load_devices(), load_prices()
    assert devices["trn1"].memory_tbps == 0.88 and "820 GiB/s" in devices["trn1"].note
    assert "2 devices per chip" in devices["tpu7x"].note
    for key in ("gb200", "b300", "gb300"):
        assert "bf16" in devices[key].unconfirmed and devices[key].note, key
    assert "3,500" in devices["b300"].note  # the disputed bf16 claim is named
    assert prices["lambda-8x-h100-sxm"].usd_per_hour == 31.92
    new = {"p6-b200.48xlarge": (113.9328, "b200", 8), "p6-b300.48xlarge": (142.416, "b300", 8),
           "trn1n.32xlarge": (24.78, "trn1", 16), "p4de.24xlarge": (27.44705, "a100-sxm-80gb", 8),
           "p5.4xlarge": (6.88, "h100-sxm", 1), "gcp-tpu-v4": (3.22, "tpu-v4", 1),
           "azure-nd-h100-v5": (98.32, "h100-sxm", 8)}
    for name, fields in new.items():
        p = prices[name]
        assert (p.usd_per_hour, p.accelerator, p.accelerators) == fields, name
        assert not p.confirmed and "SkyPilot" in p.source + p.note, name
    trn2 = prices["trn2.48xlarge"]
    assert trn2.region == "us-east-2" and trn2.usd_per_hour == 35.76 and "spot" in trn2.note
    assert [a.usd_per_hour for a in trn2.disputed_by] == [14.5556]  # the two third-party figures: disputed
    spot = prices["trn2.48xlarge-spot"]  # the spot tier of trn2.48xlarge, listed under its own name too
    assert (spot.kind, spot.tier, spot.base, spot.region, spot.usd_per_hour) == ("spot", "spot", "trn2.48xlarge",
                                                                                 "us-east-2", 8.5964)
    assert prices["p6-b300.48xlarge"].region == "us-west-2"


def test_nvidia_peaks_are_the_datasheet_sparse_figures_halved():
    devices = load_devices()
    # H100 SXM datasheet: BF16 1,979 and FP8 3,958 TFLOPS "with sparsity".
    assert devices["h100-sxm"].peak_tflops["bf16"] == 1979 / 2
    assert devices["h100-sxm"].peak_tflops["fp8"] == 3958 / 2
    assert devices["h200"].peak_tflops == devices["h100-sxm"].peak_tflops
    assert devices["l4"].peak_tflops["bf16"] == 242 / 2
    for key in ("h100-sxm", "h100-pcie", "h200", "l4"):
        assert "halved" in devices[key].note, key


def test_price_list_loads_with_sources_dates_and_known_accelerators():
    devices = load_devices()
    prices = load_prices()
    assert prices["p5.48xlarge"].accelerator == "h100-sxm" and prices["p5.48xlarge"].accelerators == 8
    assert prices["trn1.32xlarge"].accelerators == 16
    for p in prices.values():
        assert p.accelerator in devices and p.source and isinstance(p.as_of, dt.date), p.name
        assert p.usd_per_hour is None or p.usd_per_hour > 0
        if p.usd_per_hour is None:
            assert not p.confirmed and p.note, f"{p.name}: an unpriced entry must be unconfirmed and say why"
    assert prices["trn2.48xlarge"].disputed_by and not prices["trn2.48xlarge"].confirmed
    assert {p.provider for p in prices.values()} >= {"aws", "gcp", "lambda"}
    assert {p.kind for p in prices.values()} <= set(catalog.PRICING_KINDS)


# ------------------------------------------------------------------ malformed device files
GOOD_DEVICE = """
[devices.chip]
name = "A chip"
vendor = "nvidia"
peak_tflops = { fp32 = 10.0, bf16 = 100.0 }
memory_gb = 16
memory_tbps = 1.0
source = "datasheet"
as_of = 2026-11-26
cores_per_chip = 1
"""


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_a_good_minimal_device_file_loads(tmp_path):
    spec = load_devices(_write(tmp_path, "d.toml", GOOD_DEVICE))["chip"]
    assert spec.peak_tflops == {"fp32": 10.0, "bf16": 100.0} and spec.confirmed


@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda t: t.replace('source = "datasheet"\n', ""), "missing 'source'"),
        (lambda t: t.replace("as_of = 2026-11-26\n", ""), "missing 'as_of'"),
        (lambda t: t.replace("as_of = 2026-11-26", 'as_of = "last week"'), "'as_of' must be a date"),
        (lambda t: t.replace("bf16 = 100.0", "bf16 = 0"), "'peak_tflops.bf16' must be positive"),
        (lambda t: t.replace("bf16 = 100.0", "bf16 = -5.0"), "'peak_tflops.bf16' must be positive"),
        (lambda t: t.replace("bf16 = 100.0", "fp16 = 100.0"), "unknown precision 'fp16'"),
        (lambda t: t.replace("memory_tbps = 1.0", "memory_tbps = 0"), "'memory_tbps' must be positive"),
        (lambda t: t.replace("memory_gb = 16", 'memory_gb = "16"'), "'memory_gb' must be a number"),
        (lambda t: t + "colour = 'green'\n", "unknown field 'colour'"),
        (lambda t: t.replace("peak_tflops = { fp32 = 10.0, bf16 = 100.0 }", "peak_tflops = {}"), "'peak_tflops' must be"),
        (lambda t: t.replace("[devices.chip]", "[devices.chip"), "not valid TOML"),
        (lambda t: t.replace("cores_per_chip = 1\n", ""), "'cores_per_chip' must be a positive whole number"),
        (lambda t: t.replace("cores_per_chip = 1", "cores_per_chip = 0"), "'cores_per_chip' must be a positive whole"),
        (lambda t: t.replace("cores_per_chip = 1", "cores_per_chip = 1.5"), "'cores_per_chip' must be a positive whole"),
        (lambda t: t.replace("cores_per_chip = 1", "cores_per_chip = 2"), "missing 'cores_source'"),
        (lambda t: t + "megacore = true\n", "'megacore' = true needs 'cores_per_chip' of 2 or more"),
        (lambda t: t + "megacore = 1\n", "'megacore' must be true or false"),
    ],
)
def test_bad_device_entry_names_file_entry_and_problem(tmp_path, change, needle):
    path = _write(tmp_path, "devices.toml", change(GOOD_DEVICE))
    with pytest.raises(CatalogError) as info:
        load_devices(path)
    message = str(info.value)
    assert needle in message and str(path) in message
    assert "\n" not in message
    if "TOML" not in needle:
        assert '[devices."chip"]' in message


# ------------------------------------------------------------------ malformed price files (fakes.GOOD_PRICE, one field broken)
@pytest.mark.parametrize(
    "change, needle",
    [
        (lambda t: t.replace('source = "https://example.com/pricing"\n', ""), "missing 'source'"),
        (lambda t: t.replace("as_of = 2026-11-26\n", ""), "missing 'as_of'"),
        (lambda t: t.replace("usd_per_hour = 16.0", "usd_per_hour = 0.0"), "'usd_per_hour' must be positive"),
        (lambda t: t.replace("usd_per_hour = 16.0", "usd_per_hour = -3"), "'usd_per_hour' must be positive"),
        (lambda t: t.replace("usd_per_hour = 16.0", 'usd_per_hour = "cheap"'), "'usd_per_hour' must be a number"),
        (lambda t: t.replace("usd_per_hour = 16.0\n", ""), "missing 'usd_per_hour'"),
        (lambda t: t.replace('"h100-sxm"', '"h100"'), "unknown accelerator key 'h100'"),
        (lambda t: t.replace("accelerators = 8", "accelerators = 0"), "'accelerators' must be a positive whole number"),
        (lambda t: t.replace('"on-demand"', '"hourly"'), "unknown pricing kind 'hourly'"),
        (lambda t: t.replace("usd_per_hour = 16.0", "usd_per_hour = 16.0 16"), "not valid TOML"),
    ],
)
def test_bad_price_entry_names_file_entry_and_problem(tmp_path, change, needle):
    path = _write(tmp_path, "prices.toml", change(GOOD_PRICE))
    with pytest.raises(CatalogError) as info:
        load_prices(builtin=path)
    message = str(info.value)
    assert needle in message and str(path) in message and "\n" not in message
    if "TOML" not in needle:
        assert '[instances."box.8x"]' in message


def test_user_price_file_overrides_and_adds(tmp_path):
    user = _write(tmp_path, "mine.toml", """
        [instances."p5.48xlarge"]
        usd_per_hour = 40.0
        source = "our contract"
        as_of = 2026-10-01

        [instances."box.8x"]
        provider = "neocloud"
        region = "eu"
        kind = "committed"
        usd_per_hour = 16.0
        accelerator = "h200"
        accelerators = 8
        source = "quote"
        as_of = 2026-11-01
    """)
    prices = load_prices(user)
    p5 = prices["p5.48xlarge"]
    assert (p5.usd_per_hour, p5.source, p5.accelerators, p5.confirmed) == (40.0, "our contract", 8, True)
    assert p5.origin == str(user)
    assert prices["box.8x"].usd_per_chip_hour == 2.0
    assert load_prices()["p5.48xlarge"].usd_per_hour == 55.04, "the built-in list is untouched"


def test_user_price_needs_its_own_source(tmp_path):
    user = _write(tmp_path, "mine.toml", '[instances."p5.48xlarge"]\nusd_per_hour = 40.0\nas_of = 2026-10-01\n')
    with pytest.raises(CatalogError, match=r"mine.toml: \[instances.\"p5.48xlarge\"\]: a price needs its own 'source'"):
        load_prices(user)


# ------------------------------------------------------------------ command line
def test_prices_command_lists_instances_and_devices(cli):
    proc = cli("prices", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    names = {p["name"]: p for p in data["instances"]}
    assert names["p5.48xlarge"]["usd_per_chip_hour"] == pytest.approx(6.88)
    assert {d["key"] for d in data["devices"]} == CONTRACT_KEYS
    cores = {d["key"]: (d["cores_per_chip"], d["megacore"]) for d in data["devices"]}
    assert cores["trn2"] == (8, False) and cores["tpu7x"] == (2, False) and cores["tpu-v5p"] == (2, True)
    assert all(isinstance(d["cores_per_chip"], int) and d["cores_per_chip"] >= 1 for d in data["devices"])
    text = cli("prices")
    assert text.returncode == 0 and "p5.48xlarge" in text.stdout and "h100-sxm" in text.stdout


@pytest.mark.parametrize(
    "args, needles",
    [
        (["--instance", "p9.huge"], ["unknown instance 'p9.huge'", "accepted:", "p5.48xlarge"]),
        (["--instance", "gcp-tpu7x"], ["has no known price", "--usd-per-hour"]),
        (["--usd-per-hour", "-2"], ["--usd-per-hour must be a positive number"]),
        (["--usd-per-hour", "nan"], ["argument --usd-per-hour: 'nan' is not a price; accepted"]),
        (["--instance", "p5.48xlarge", "--usd-per-hour", "3"], ["not allowed with argument"]),
    ],
)
def test_bad_pricing_options_exit_2_before_any_case_runs(cli, tmp_path, args, needles):
    out = tmp_path / "out"
    proc = cli("run", "--kernel", "gpt2:tiny", "--backend", "torch-cpu", "--out", out, *args)
    line = assert_one_line_error(proc.returncode, proc.stderr)
    for needle in needles:
        assert needle in line
    assert not out.exists()


def test_malformed_user_price_file_is_one_line_naming_file_entry_problem(cli, tmp_path):
    bad = _write(tmp_path, "mine.toml", """
        [instances."p5.48xlarge"]
        usd_per_hour = -40.0
        source = "our contract"
        as_of = 2026-10-01
    """)
    out = tmp_path / "out"
    proc = cli("run", "--kernel", "gpt2:tiny", "--backend", "torch-cpu", "--instance", "p5.48xlarge",
               "--prices", bad, "--out", out)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(bad) in lines[0] and '[instances."p5.48xlarge"]' in lines[0] and "must be positive" in lines[0]
    assert not out.exists()
    broken = _write(tmp_path, "broken.toml", "[instances.\n")
    proc = cli("prices", "--prices", broken)
    assert proc.returncode == 2 and f"price file {broken}: not valid TOML" in proc.stderr


def test_a_bad_names_table_is_one_line_naming_the_entry(tmp_path):
    good = (tmp_path / "ok.toml")
    entry = ('[devices.x]\nname = "X"\nvendor = "v"\npeak_tflops = { bf16 = 1.0 }\nmemory_gb = 1\nmemory_tbps = 1\n'
             'source = "s"\nas_of = 2026-11-26\ncores_per_chip = 1\n')
    for names, words in (('{ driver = ["("], examples = ["X"] }', "is not a regular expression"),
                         ('{ colour = ["x"] }', "unknown key 'colour' in names"),
                         ('{ driver = ["X"], examples = ["X"], none_because = "why" }', "or none_because (why none) alone")):
        good.write_text(entry + f"names = {names}\n")
        with pytest.raises(CatalogError, match=r"ok.toml: \[devices.\"x\"\]: ") as err:
            load_devices(good)
        assert words in str(err.value), str(err.value)
