"""$/1M tokens and MFU: the arithmetic a reader can redo from the record."""

from __future__ import annotations

import json

import pytest

import datetime as dt

from accelbench.harness import cost, metrics, preflight
from accelbench.facts.catalog import CatalogError, load_devices, load_prices
from accelbench.harness.records import MetricsPart, load_record, record_files

PRICES = load_prices()
DEVICES = load_devices()
TODAY = dt.date(2026, 11, 30)


def _p5():
    return cost.PriceChoice(instance=PRICES["p5.48xlarge"])


def _facts(chips, key, kind=None, host=None):
    return cost.RunFacts(chips, key, kind, TODAY, host or {})


# ------------------------------------------------------------------ cost
def test_whole_instance_is_priced_at_the_instance_price():
    part = cost.price_run(_p5(), tokens_per_step=8192, step_median_s=0.1, step_ci95=(0.09, 0.12),
                          facts=_facts(8, "h100-sxm"))
    assert part.usd_per_hour == pytest.approx(55.04) and part.scaled_from_chips is None
    assert part.usd_per_hour_basis == "whole-instance" and part.instance_usd_per_hour == 55.04
    assert part.usd_per_mtok == pytest.approx(55.04 / (8192 / 0.1 * 3600) * 1e6)
    assert part.device_matches is True and part.scale_factor == 1.0


def test_part_of_an_instance_is_scaled_and_says_by_how_much():
    part = cost.price_run(_p5(), tokens_per_step=1024, step_median_s=0.05, step_ci95=(0.04, 0.07),
                          facts=_facts(1, "h100-sxm"))
    assert part.usd_per_chip_hour == pytest.approx(55.04 / 8)
    assert part.usd_per_hour == pytest.approx(55.04 / 8)
    assert (part.scaled_from_chips, part.chips_per_instance, part.scale_factor) == (1, 8, 0.125)
    assert any(n.startswith("scaled: the run measured 1 of the 8 chips") for n in part.notes)
    assert part.notes[0] == ("charged $55.04/h (whole instance) x 1 chips measured / 8 chips per instance "
                             "(price list: p5.48xlarge has 8 x h100-sxm) = $6.88/h")
    tokens_per_s = 1024 / 0.05
    assert part.usd_per_mtok == pytest.approx(55.04 / 8 / (tokens_per_s * 3600) * 1e6)
    lo, hi = part.usd_per_mtok_ci95
    assert lo < part.usd_per_mtok < hi
    assert lo == pytest.approx(55.04 / 8 / (1024 / 0.04 * 3600) * 1e6)


def test_more_chips_than_one_instance_pay_for_more_instances():
    part = cost.price_run(_p5(), 4096, 0.1, None, _facts(16, "h100-sxm"))
    assert part.usd_per_hour == pytest.approx(2 * 55.04) and part.scaled_from_chips == 16
    assert part.usd_per_mtok_ci95 is None


def test_a_cpu_run_priced_as_an_instance_is_marked_what_if():
    part = cost.price_run(_p5(), 64, 0.01, (0.009, 0.011), _facts(1, None, "Some CPU"))
    assert part.device_matches is False and "what-if" in part.marks
    assert any("measured on Some CPU, priced as h100-sxm chips" in n for n in part.notes)
    assert any("not confirmed" in n for n in part.notes), "p5.48xlarge is marked unconfirmed in the catalog"


def test_flat_hourly_price_and_kernels_without_tokens():
    flat = cost.price_run(cost.PriceChoice(usd_per_hour=2.0), 1000, 0.5, (0.4, 0.6), _facts(1, None, "CPU"))
    assert flat.instance is None and flat.usd_per_hour == 2.0 and flat.marks == []
    assert flat.chips_per_instance_source.startswith("no accelerator: this CPU host is charged as the whole instance")
    assert flat.usd_per_mtok == pytest.approx(2.0 / (2000 * 3600) * 1e6)
    micro = cost.price_run(_p5(), None, 0.5, (0.4, 0.6), _facts(8, "h100-sxm"))
    assert micro.usd_per_mtok is None and any("no tokens" in n for n in micro.notes)


def test_resolve_accepts_names_and_rejects_the_rest():
    assert preflight.resolve_pricing(None, None, None) is None
    assert preflight.resolve_pricing("p5.48xlarge", None, None).instance.usd_per_hour == 55.04
    assert preflight.resolve_pricing(None, 3.5, None).usd_per_hour == 3.5
    assert preflight.resolve_pricing(None, 3.5, None, 4).chips_per_instance == 4
    for bad in (("nosuch", None), (None, 0.0), (None, float("inf")), ("p5.48xlarge", 1.0)):
        with pytest.raises(CatalogError):
            preflight.resolve_pricing(*bad, None)
    for chips in (0, -1, 2.5, True):
        with pytest.raises(CatalogError, match="--chips-per-instance must be a positive whole number"):
            preflight.resolve_pricing(None, 3.5, None, chips)


# ------------------------------------------------------------------ MFU and bandwidth
def test_mfu_divides_by_the_dense_peak_of_the_precision_used():
    m = MetricsPart(tflops=494.75, hbm_tbps=1.675)
    out = metrics.with_device_utilization(m, DEVICES["h100-sxm"], "bf16", 1, "palm-6N+12LdT")
    assert out.mfu == pytest.approx(0.5)
    assert out.hbm_util == pytest.approx(0.5)
    basis = out.mfu_basis
    assert basis["peak_tflops_per_chip"] == 989.5 and basis["precision"] == "bf16" and basis["chips"] == 1
    assert basis["flop_convention"] == "palm-6N+12LdT" and basis["source"]
    fp32 = metrics.with_device_utilization(m, DEVICES["h100-sxm"], "fp32", 1, None)
    assert fp32.mfu_basis["peak_tflops_per_chip"] == 67.0
    tf32 = metrics.with_device_utilization(MetricsPart(tflops=98.9), DEVICES["h100-sxm"], "tf32", 2, None)
    assert tf32.mfu == pytest.approx(98.9 / (494.5 * 2))


def test_mfu_over_100_percent_is_an_error_not_a_number():
    out = metrics.with_device_utilization(MetricsPart(tflops=1500.0), DEVICES["h100-sxm"], "bf16", 1, None)
    assert out.mfu is None
    assert len(out.errors) == 1 and "above 100%" in out.errors[0]


def test_no_peak_means_no_mfu_with_a_reason():
    cpu = metrics.with_device_utilization(MetricsPart(tflops=0.1), None, "fp32", 1, None, "Xeon")
    assert cpu.mfu is None and "not in the device catalog" in cpu.mfu_basis["reason"]
    tpu = metrics.with_device_utilization(MetricsPart(tflops=10.0), DEVICES["tpu-v5e"], "fp32", 1, None)
    assert tpu.mfu is None and "no dense fp32 peak for tpu-v5e" in tpu.mfu_basis["reason"]
    ref = metrics.with_device_utilization(MetricsPart(tflops=1.0), DEVICES["h100-sxm"], "fp64", 1, None)
    assert ref.mfu is None and "reason" in ref.mfu_basis


# ------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_a_priced_run_records_the_formula_and_an_interval_that_brackets_it(cli, tmp_path):
    """`--instance p5.48xlarge` on this CPU: $/1M tokens = price ÷ chips ÷ (tokens/s × 3600) × 1e6."""
    out = tmp_path / "priced"
    proc = cli("run", "--kernel", "gpt2:tiny", "--backend", "torch-cpu", "--instance", "p5.48xlarge",
               "--steps", "3", "--repeats", "2", "--warmup", "1", "--out", out)
    assert proc.returncode == 0, proc.stderr
    [path] = [p for p in record_files(out) if p.name.startswith("gpt2")]
    record = load_record(path)
    c, m = record["cost"], record["metrics"]
    assert record["status"] == "ok", record["error"]
    expected = 55.04 / 8 / (m["tokens_per_s"] * 3600) * 1e6
    assert c["usd_per_mtok"] == pytest.approx(expected, rel=1e-9)
    lo, hi = c["usd_per_mtok_ci95"]
    assert lo <= c["usd_per_mtok"] <= hi
    assert (c["instance"], c["scaled_from_chips"], c["chips_per_instance"]) == ("p5.48xlarge", 1, 8)
    assert c["device_matches"] is False and c["source"] and c["as_of"] == "2026-11-01"
    assert c["marks"][:2] == ["what-if", "unconfirmed"] and "p5.48xlarge from the built-in price list" in c["price_source"]
    assert m["mfu"] is None and "reason" in m["mfu_basis"]
    assert m["energy"]["method"] in (None, "rapl") and (m["energy"]["method"] or m["energy"]["reason"])
    json.dumps(record)  # the record stays plain JSON


def test_a_run_on_one_neuroncore_is_priced_and_rated_as_that_fraction_of_a_chip():
    """trn1: one process drives one of a chip's two NeuronCores, so the run
    used half a chip: MFU divides by half the chip's peak, price by half a chip."""
    from accelbench.facts.catalog import load_devices, load_prices
    from accelbench.harness.cost import PriceChoice, price_run
    from accelbench.harness.metrics import chips_used, with_catalog_utilization
    from accelbench.harness.records import BackendPart, KernelPart, MetricsPart

    backend = BackendPart(name="torch-xla", framework="torch", device_catalog_key="trn1", device_count=1,
                          precision="bf16", info={"device": {"chip_share": 0.5}})
    assert chips_used(backend) == 0.5
    peak = load_devices()["trn1"].peak_tflops["bf16"]
    kernel = KernelPart(name="gpt2", preset="124m", config={}, flop_convention="palm-6N+12LdT")
    rated = with_catalog_utilization(MetricsPart(tflops=peak / 4), kernel, backend)
    assert rated.mfu == pytest.approx(0.5)
    price = load_prices()["trn1.32xlarge"]
    part = price_run(PriceChoice(instance=price), 1024, 0.1, None, _facts(chips_used(backend), "trn1"))
    assert part.usd_per_hour == pytest.approx(price.usd_per_hour / price.accelerators / 2)
