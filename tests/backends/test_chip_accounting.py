"""Counting a chip right and pricing a chip right, fed with recorded (or
documented) discovery output from tests/fixtures/: for each device, the share
of a chip one visible device is, the MFU peak used and the price charged."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from accelbench.backends import chip_share, discovery, matmul_precision
from accelbench.harness import cost, fit, metrics
from accelbench.facts.catalog import load_devices, load_prices
from accelbench.harness.records import BackendPart, KernelPart, MetricsPart, load_record, record_files

FIXTURES = Path(__file__).parents[1] / "fixtures"
NEURON = FIXTURES / "neuron"
DEVICES, PRICES = load_devices(), load_prices()
TODAY = dt.date(2026, 11, 30)
GIB = 2**30


def _neuron_ls(name: str, instance_type: str | None = None) -> list[discovery.NeuronDevice]:
    return discovery.parse_neuron_ls_json((NEURON / name).read_text(), instance_type=instance_type)


def _rated_and_priced(key: str, share: float, instance: str, tflops: float, device_count: int = 1):
    """MFU and the cost part the harness computes for ``device_count`` devices of ``share`` each."""
    backend = BackendPart(name="b", framework="f", device_catalog_key=key, device_count=device_count,
                          precision="bf16", info={"device": {"chip_share": share}})
    kernel = KernelPart(name="gpt2", preset="124m", config={}, flop_convention="palm-6N+12LdT")
    rated = metrics.with_catalog_utilization(MetricsPart(tflops=tflops), kernel, backend, DEVICES)
    facts = cost.RunFacts(metrics.chips_used(backend), key, key, TODAY)
    part = cost.price_run(cost.PriceChoice(instance=PRICES[instance]), 8192, 0.1, None, facts, PRICES)
    return rated, part


# ------------------------------------------------------------------ Trainium
@pytest.mark.parametrize("fixture, instance_type, price, nc_count, lnc, share", [
    ("neuron-ls-trn1.2xlarge.json", "trn1.32xlarge", "trn1.32xlarge", 2, None, 1 / 2),  # real recording
    ("neuron-ls-trn2.48xlarge-one-device.json", None, "trn2.48xlarge-spot", 4, 2, 1 / 4),  # real recording, LNC=2
    ("neuron-ls-trn2n.48xlarge-lnc2.json", "trn2.48xlarge", "trn2.48xlarge-spot", 4, 2, 1 / 4),  # the guide's example
    ("neuron-ls-trn2n.48xlarge-lnc1.json", "trn2.48xlarge", "trn2.48xlarge-spot", 8, 1, 1 / 8),  # LNC=1
])
def test_a_neuroncore_is_its_share_of_a_trainium_chip(fixture, instance_type, price, nc_count, lnc, share):
    dev = _neuron_ls(fixture, instance_type)[0]
    assert (dev.core_count, dev.logical_core_config) == (nc_count, lnc)
    got = chip_share.for_neuron(dev.catalog_key, dev.core_count, dev.logical_core_config, None, DEVICES)
    assert got.share == share and f"nc_count={nc_count}" in got.reason
    key = dev.catalog_key
    peak = DEVICES[key].peak_tflops["bf16"]
    rated, part = _rated_and_priced(key, got.share, price, tflops=peak * share / 2)
    assert rated.mfu_basis["peak_tflops_per_chip"] == peak and rated.mfu_basis["chips"] == share
    assert rated.mfu == pytest.approx(0.5)  # half of the share's peak
    whole = PRICES[price]
    assert part.usd_per_hour == pytest.approx(whole.usd_per_hour * share / whole.accelerators)
    assert part.chips_per_instance == 16 and part.instance_usd_per_hour == whole.usd_per_hour
    # Memory of one visible device: its share of the chip's HBM, what the fit check compares against.
    assert int(dev.memory_bytes * got.share) == {2: 16, 4: 24, 8: 12}[nc_count] * GIB


@pytest.mark.parametrize("key, lnc_env, share", [
    ("trn2", None, 1 / 4), ("trn2", "2", 1 / 4), ("trn2", "1", 1 / 8), ("trn3", "1", 1 / 8), ("trn2", "3", 1 / 4),
    ("trn1", None, 1 / 2), ("trn1", "2", 1 / 2),  # Trainium1 runs LNC=1 only
])
def test_without_neuron_ls_the_share_comes_from_lnc_and_the_catalog(key, lnc_env, share):
    got = chip_share.for_neuron(key, None, None, lnc_env, DEVICES)
    assert got.share == share, got.reason
    assert ("NEURON_LOGICAL_NC_CONFIG" in got.reason) == (key != "trn1")


def test_a_data_parallel_record_counts_devices_times_share():
    rated, part = _rated_and_priced("trn2", 0.25, "trn2.48xlarge-spot", tflops=667.0, device_count=8)
    assert rated.mfu_basis["chips"] == 2 and rated.mfu == pytest.approx(0.5)
    assert part.chips_priced == 2 and part.usd_per_hour == pytest.approx(8.5964 * 2 / 16)


def test_old_records_with_chips_measured_still_count_their_fraction():
    old = {"device_count": 1, "info": {"device": {"chips_measured": 0.5}}}
    assert metrics.chips_used(old) == 0.5
    assert metrics.chips_used({"device_count": 2, "info": {}}) == 2


# ------------------------------------------------------------------ TPU
EXPECTED_TPU = {"v4": 1.0, "v5e": 1.0, "v5p": 1.0, "v6e": 1.0, "7x": 0.5}


def test_tpu_device_kinds_give_the_share_from_cores_per_chip():
    kinds = json.loads((FIXTURES / "tpu" / "jax-tpu-device-kinds.json").read_text())["device_kind_to_chip"]
    for kind, chip in kinds.items():
        key = discovery.jax_kind_catalog_key(kind)
        got = chip_share.for_tpu(key, kind, devices=DEVICES)
        assert got.share == EXPECTED_TPU.get(chip, 1.0), (kind, got.reason)
    # JAX's num_cores, when the device reports it, says the same.
    assert chip_share.for_tpu("tpu7x", "TPU7x", cores_per_device=1, devices=DEVICES).share == 0.5
    assert chip_share.for_tpu("tpu-v5p", "TPU v5", cores_per_device=2, devices=DEVICES).share == 1.0


def test_tpu7x_device_is_rated_and_priced_as_half_a_chip():
    rated, _ = _rated_and_priced("tpu7x", 0.5, "gcp-tpu-v6e", tflops=2307 / 4)
    assert rated.mfu_basis["peak_tflops_per_chip"] == 2307 and rated.mfu == pytest.approx(0.5)
    assert PRICES["gcp-tpu7x"].usd_per_hour is None  # no published price: a user's price is needed
    facts = cost.RunFacts(0.5, "tpu7x", "TPU7x", TODAY, {"chips": {"count": 4, "source": "PCI: 4 TPU chips"}})
    part = cost.price_run(cost.PriceChoice(usd_per_hour=40.0), 8192, 0.1, None, facts, PRICES)
    assert part.usd_per_hour == pytest.approx(40.0 * 0.5 / 4) and part.chips_per_instance_source.startswith("PCI")
    assert part.marks == ["chips-assumed"]  # the chips the host saw, taken as the whole instance (no instance type)


# ------------------------------------------------------------------ GPUs (the H200 recordings)
def test_h200_recording_is_one_chip_per_device_and_counts_the_host():
    gpus = discovery.parse_nvidia_smi_xml((FIXTURES / "nvidia-h200" / "nvidia-smi-q.xml").read_text())
    host = discovery.host_chips_from(gpus, [], discovery.TpuChips(0, None, None))
    assert (host.count, host.catalog_key) == (1, "h200") and host.source == "nvidia-smi: 1 GPUs"
    rated, part = _rated_and_priced("h200", chip_share.ONE_CHIP.share, "p5en.48xlarge", tflops=989.5 / 2)
    assert rated.mfu_basis["peak_tflops_per_chip"] == 989.5 and rated.mfu == pytest.approx(0.5)
    assert part.usd_per_hour == pytest.approx(63.296 / 8) and part.marks == ["unconfirmed"]
    # --usd-per-hour on that host: the whole instance's price over the 1 GPU it has.
    facts = cost.RunFacts(1.0, "h200", "NVIDIA H200", TODAY, {"chips": host.to_dict()})
    flat = cost.price_run(cost.PriceChoice(usd_per_hour=3.5), 8192, 0.1, None, facts, PRICES)
    assert flat.usd_per_hour == 3.5 and flat.chips_per_instance_source.startswith("nvidia-smi: 1 GPUs")
    assert flat.marks == ["chips-assumed"]  # the instance type was not read: one visible GPU assumed to be all


def test_a_container_that_sees_one_chip_is_priced_by_its_instance_type():
    """The recorded trn2 container sees 1 of its instance's 16 devices: the price list's 16 wins."""
    neuron = _neuron_ls("neuron-ls-trn2.48xlarge-one-device.json")
    host = discovery.host_chips_from([], neuron, discovery.TpuChips(0, None, None))
    assert (host.count, host.instance_type) == (1, "trn2.48xlarge")
    facts = cost.RunFacts(0.25, "trn2", "AWS Neuron", TODAY, {"chips": host.to_dict()})
    part = cost.price_run(cost.PriceChoice(usd_per_hour=64.0), 8192, 0.1, None, facts, PRICES)
    assert part.chips_per_instance == 16 and part.usd_per_hour == pytest.approx(64.0 * 0.25 / 16)
    assert "trn2.48xlarge" in part.chips_per_instance_source


# ------------------------------------------------------------------ marks
def test_marks_what_if_unconfirmed_stale_and_other_region():
    p5 = cost.PriceChoice(instance=PRICES["p5.48xlarge"])
    cpu = cost.RunFacts(1.0, None, "Some CPU", TODAY, {"region": "us-west-2"})
    part = cost.price_run(p5, 64, 0.01, None, cpu, PRICES)
    assert part.marks == ["what-if", "unconfirmed", "other-region"] and part.run_region == "us-west-2"
    later = cost.RunFacts(8.0, "h100-sxm", "H100", PRICES["p5.48xlarge"].as_of + dt.timedelta(days=181),
                          {"region": "us-east-1"})
    assert cost.price_run(p5, 64, 0.01, None, later, PRICES).marks == ["unconfirmed", "stale"]
    on_time = cost.RunFacts(8.0, "h100-sxm", "H100", PRICES["p5.48xlarge"].as_of + dt.timedelta(days=180))
    assert cost.price_run(p5, 64, 0.01, None, on_time, PRICES).marks == ["unconfirmed"]
    assert "p5.48xlarge from the built-in price list" in part.price_source and "$55.04/h" in part.price_source


def test_run_region_from_the_environment():
    from accelbench.facts.host import Metadata, region_fact

    def run_region(env):
        fact = region_fact(Metadata(), env)
        return fact.value, fact.how

    assert run_region({"AWS_REGION": "us-east-2"})[0] == "us-east-2"
    assert run_region({"AWS_DEFAULT_REGION": "eu-west-1"})[0] == "eu-west-1"
    sky = json.dumps({"cluster_name": "ab", "cloud": "GCP", "region": "us-east1", "zone": "us-east1-d"})
    assert run_region({"SKYPILOT_CLUSTER_INFO": sky}) == ("us-east1", "SKYPILOT_CLUSTER_INFO")
    assert run_region({"SKYPILOT_CLUSTER_INFO": "not json"})[0] is None
    assert run_region({})[0] is None


# ------------------------------------------------------------------ fp32 truthfulness
@pytest.mark.parametrize("platform, precision, effective, flag, xla", [
    ("neuron", "fp32", "fp32", "--auto-cast=none", None),
    ("neuron", "tf32", "tf32", "--auto-cast=matmult --auto-cast-type=tf32", None),
    ("neuron", "bf16", "bf16", None, None),
    ("tpu", "fp32", "fp32", None, "highest"),
    ("tpu", "tf32", "bf16_3x", None, "high"),
    ("gpu", "fp32", "fp32", None, "highest"),
    ("gpu", "tf32", "tf32", None, None),
    ("cpu", "fp32", "fp32", None, None),
])
def test_matmul_precision_plan(platform, precision, effective, flag, xla):
    plan = matmul_precision.plan(platform, precision)
    assert (plan.effective, plan.neuron_cc_flag, plan.xla_precision) == (effective, flag, xla)
    assert plan.to_dict()["requested"] == precision


def test_neuron_flag_replaces_a_users_auto_cast_and_keeps_the_rest():
    flags = matmul_precision.with_neuron_flag("--cache_dir=/c --auto-cast matmult -O1", "--auto-cast=none")
    assert flags == "--cache_dir=/c -O1 --auto-cast=none"
    assert matmul_precision.with_neuron_flag("--auto-cast=all", None) == "--auto-cast=all"


def test_mfu_uses_the_precision_that_ran():
    """tf32 asked on Trainium runs TF32 matmuls (asked of neuronx-cc explicitly); a TPU's 3-pass bf16 has no peak."""
    kernel = KernelPart(name="gemm", preset="x", config={})
    neuron = BackendPart(name="torch-neuron", framework="torch", device_catalog_key="trn2", precision="tf32",
                         info={"device": {"chip_share": 0.25},
                               "matmul_precision": matmul_precision.plan("neuron", "tf32").to_dict()})
    rated = metrics.with_catalog_utilization(MetricsPart(tflops=667 / 8), kernel, neuron, DEVICES)
    assert rated.mfu_basis["precision"] == "tf32" and "precision_requested" not in rated.mfu_basis
    assert rated.mfu == pytest.approx(0.5)  # trn2: 667 dense TF32 TFLOP/s per chip, a quarter of it
    tpu = BackendPart(name="jax-tpu", framework="jax", device_catalog_key="tpu-v6e", precision="tf32",
                      info={"matmul_precision": matmul_precision.plan("tpu", "tf32").to_dict()})
    assert metrics.with_catalog_utilization(MetricsPart(tflops=1.0), kernel, tpu, DEVICES).mfu is None


# ------------------------------------------------------------------ the table in the report
def _price_table():
    spec = importlib.util.spec_from_file_location("price_table", Path(__file__).parents[2] / "ci" / "price_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_price_table_matches_the_hand_computation():
    """gpt2:124m = 855,383,040 FLOP/token (6N + 12LdT); at 100,000 tokens/s: 85.538304 TFLOP/s."""
    rows = {r.label.split(",")[0]: r for r in _price_table().rows(100_000)}
    achieved = 855_383_040 * 100_000 / 1e12
    hand = {  # (MFU, $/1M tokens) by hand: peak x share; price x share / chips per instance / 360
        "trn1.32xlarge": (achieved / (190 * 0.5), 21.50 * 0.5 / 16 / 360),
        "trn2.48xlarge LNC=2": (achieved / (667 * 0.25), 8.5964 * 0.25 / 16 / 360),
        "trn2.48xlarge LNC=1": (None, 8.5964 * 0.125 / 16 / 360),  # 102.6% > 100%: withheld
        "p5.48xlarge": (achieved / 989.5, 55.04 / 8 / 360),
        "p5en.48xlarge": (achieved / 989.5, 63.296 / 8 / 360),
        "TPU v6e": (achieved / 918, 2.70 / 360),
        "TPU7x": (achieved / (2307 * 0.5), None),
    }
    assert set(rows) == set(hand)
    for name, (mfu, usd) in hand.items():
        row = rows[name]
        assert row.mfu == (pytest.approx(mfu) if mfu is not None else None), name
        assert row.usd_per_mtok == (pytest.approx(usd) if usd is not None else None), name
    assert "above 100%" in rows["trn2.48xlarge LNC=1"].mfu_note


def test_fit_check_compares_against_one_visible_device():
    """trn2 at LNC=2: a logical core has 24 GiB of the chip's 96, and a 30 GiB case does not fit it."""
    dev = _neuron_ls("neuron-ls-trn2n.48xlarge-lnc2.json", "trn2.48xlarge")[0]
    share = chip_share.for_neuron("trn2", dev.core_count, dev.logical_core_config, None, DEVICES)
    per_device = chip_share.visible_device_bytes(dev.memory_bytes, share.share)
    assert per_device == 24 * GIB
    assert fit.wont_fit_reason(30 * GIB, per_device, "AWS Neuron") is not None
    assert fit.wont_fit_reason(30 * GIB, dev.memory_bytes, "AWS Neuron") is None  # the chip's figure would pass


# ------------------------------------------------------------------ command line
@pytest.mark.slow
def test_usd_per_hour_is_the_whole_instance_charged_by_chips(cli, tmp_path):
    out = tmp_path / "run"
    proc = cli("run", "--kernel", "gpt2:tiny", "--backend", "torch-cpu", "--usd-per-hour", "8",
               "--chips-per-instance", "8", "--steps", "2", "--repeats", "2", "--warmup", "0", "--out", out)
    assert proc.returncode == 0, proc.stderr
    [path] = [p for p in record_files(out) if p.name.startswith("gpt2")]
    c = load_record(path)["cost"]
    assert c["usd_per_hour"] == 1.0 and c["instance_usd_per_hour"] == 8.0 and c["usd_per_hour_basis"] == "whole-instance"
    assert c["chips_per_instance"] == 8 and c["chips_per_instance_source"] == "--chips-per-instance"
    assert c["marks"] == ["what-if"] and "charged as 1 of 8 chips" in " ".join(c["notes"])
    assert "charged $1/h of a whole-instance price; prices marked: what-if" in proc.stderr.strip().splitlines()[-1]


@pytest.mark.slow
def test_report_prices_a_folder_run_without_a_price(cli, tmp_path):
    out = tmp_path / "plain"
    assert cli("run", "--kernel", "gpt2:tiny", "--backend", "torch-cpu", "--steps", "2", "--repeats", "2",
               "--warmup", "0", "--out", out, "--quiet").returncode == 0
    [path] = [p for p in record_files(out) if p.name.startswith("gpt2")]
    record = load_record(path)
    assert record["cost"] is None
    csv = tmp_path / "priced.csv"
    proc = cli("report", out, "--instance", "p5.48xlarge", "--csv", csv, "--md", tmp_path / "r.md")
    assert proc.returncode == 0, proc.stderr
    import pandas as pd

    row = pd.read_csv(csv).iloc[0]
    tokens_per_s = record["metrics"]["tokens_per_s"]
    assert row["cost.usd_per_mtok"] == pytest.approx(55.04 / 8 / (tokens_per_s * 3600) * 1e6)
    assert "what-if" in row["cost.marks"] and row["cost.chips_per_instance"] == 8
    assert "[what-if]" in (tmp_path / "r.md").read_text()
    assert load_record(path)["cost"] is None  # the saved record is not rewritten


@pytest.mark.parametrize("args, needle", [
    (["--chips-per-instance", "0", "--usd-per-hour", "8"], "--chips-per-instance must be a positive whole number"),
    (["--chips-per-instance", "8"], "--chips-per-instance needs a price"),
    (["--instance", "nosuch"], "unknown instance 'nosuch'"),
    (["--instance", "gcp-tpu7x"], "has no known price"),
])
def test_bad_report_pricing_is_one_line_exit_2(cli, tmp_path, args, needle):
    proc = cli("report", tmp_path, *args)
    assert proc.returncode == 2 and needle in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_bad_run_pricing_is_one_line_exit_2(cli, tmp_path):
    proc = cli("run", "--kernel", "gpt2:tiny", "--backend", "torch-cpu", "--chips-per-instance", "4",
               "--out", tmp_path / "o")
    assert proc.returncode == 2 and "--chips-per-instance needs a price" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_without_the_xla_knob_the_record_says_what_xla_ran():
    assert matmul_precision.plan("tpu", "fp32", xla_knob=False).effective == "bf16"
    assert matmul_precision.plan("gpu", "fp32", xla_knob=False).effective == "tf32"
    assert matmul_precision.plan("tpu", "fp32", xla_knob=False).xla_precision is None
