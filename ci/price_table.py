"""Print, for ONE visible device of several instances running gpt2:124m at an
assumed throughput, the chip share, MFU and $/1M tokens exactly as the
harness computes them (chip share from recorded or documented discovery
output in tests/fixtures/, MFU from harness/metrics.py, price from
harness/cost.py), next to the same arithmetic done by hand.

    python ci/price_table.py [--tokens-per-s 100000]

No device is touched: the throughput is an assumption, so the table shows the
accounting, not a measurement. tests/backends/test_chip_accounting.py checks its rows.

A second table prices one logical NeuronCore of a trn2.48xlarge at a
whole-instance price (``--usd-per-hour``) in the host situations
facts/host.py tells apart: the instance type read from the EC2 metadata
service and neuron-ls present; metadata without neuron-ls; neuron-ls without
metadata (a container seeing 1 of 16 devices); neither. Each row has the
by-hand figure beside the code's; tests/facts/test_host_identity.py checks them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from accelbench import kernels
from accelbench.backends import chip_share, discovery
from accelbench.harness import cost, metrics
from accelbench.facts.catalog import load_devices, load_prices
from accelbench.harness.records import BackendPart, KernelPart, MetricsPart

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"


@dataclass(frozen=True)
class Row:
    label: str
    catalog_key: str
    share: chip_share.ChipShare
    instance: str | None
    """Price-list entry; None where no price is published."""
    mfu: float | None
    mfu_note: str
    peak_tflops_per_chip: float | None
    usd_per_hour: float | None
    usd_per_mtok: float | None
    marks: tuple[str, ...]


def _neuron(name: str, instance_type: str) -> chip_share.ChipShare:
    dev = discovery.parse_neuron_ls_json((FIXTURES / "neuron" / name).read_text(), instance_type=instance_type)[0]
    return chip_share.for_neuron(dev.catalog_key, dev.core_count, dev.logical_core_config, None)


def _tpu(kind: str) -> tuple[str, chip_share.ChipShare]:
    kinds = json.loads((FIXTURES / "tpu" / "jax-tpu-device-kinds.json").read_text())["device_kind_to_chip"]
    assert kind in kinds, kind  # a device kind JAX really reports
    key = discovery.jax_kind_catalog_key(kind)
    return key, chip_share.for_tpu(key, kind)


def cases() -> list[tuple[str, str, chip_share.ChipShare, str | None]]:
    h200_chips = discovery.parse_nvidia_smi_xml((FIXTURES / "nvidia-h200" / "nvidia-smi-q.xml").read_text())
    assert h200_chips[0].catalog_key == "h200"
    v6e_key, v6e = _tpu("TPU v6e")
    tpu7x_key, tpu7x = _tpu("TPU7x")
    return [
        ("trn1.32xlarge, one NeuronCore (torch-xla / jax-neuron)", "trn1",
         _neuron("neuron-ls-trn1.2xlarge.json", "trn1.32xlarge"), "trn1.32xlarge"),
        ("trn2.48xlarge LNC=2, one logical NeuronCore", "trn2",
         _neuron("neuron-ls-trn2n.48xlarge-lnc2.json", "trn2.48xlarge"), "trn2.48xlarge-spot"),
        ("trn2.48xlarge LNC=1, one NeuronCore", "trn2",
         _neuron("neuron-ls-trn2n.48xlarge-lnc1.json", "trn2.48xlarge"), "trn2.48xlarge-spot"),
        ("p5.48xlarge, one H100", "h100-sxm", chip_share.ONE_CHIP, "p5.48xlarge"),
        ("p5en.48xlarge, one H200 (recorded nvidia-smi)", h200_chips[0].catalog_key, chip_share.ONE_CHIP,
         "p5en.48xlarge"),
        ("TPU v6e, one chip", v6e_key, v6e, "gcp-tpu-v6e"),
        ("TPU7x, one JAX device", tpu7x_key, tpu7x, None),
    ]


def rows(tokens_per_s: float, run_date: dt.date = dt.date(2026, 11, 30)) -> list[Row]:
    kernel = kernels.get("gpt2")
    cfg = kernel.config("124m", {})
    flops_per_token = kernel.flops_per_step(cfg) / kernel.tokens_per_step(cfg)
    tokens_per_step = kernel.tokens_per_step(cfg)
    step_s = tokens_per_step / tokens_per_s
    devices, prices = load_devices(), load_prices()
    out = []
    for label, key, share, instance in cases():
        backend = BackendPart(name="-", framework="-", device_catalog_key=key, device_count=1, precision="bf16",
                              info={"device": {"chip_share": share.share, "chip_share_reason": share.reason}})
        kernel_part = KernelPart(name="gpt2", preset="124m", config={}, flop_convention=kernel.flop_convention)
        m = metrics.with_catalog_utilization(MetricsPart(tflops=flops_per_token * tokens_per_s / 1e12,
                                                         tokens_per_s=tokens_per_s), kernel_part, backend, devices)
        usd = usd_mtok = None
        marks: tuple[str, ...] = ()
        if instance is not None:
            facts = cost.RunFacts(metrics.chips_used(backend), key, key, run_date)
            part = cost.price_run(cost.PriceChoice(instance=prices[instance]), tokens_per_step, step_s, None, facts, prices)
            usd, usd_mtok, marks = part.usd_per_hour, part.usd_per_mtok, tuple(part.marks)
        out.append(Row(label, key, share, instance, m.mfu, "; ".join(m.errors) or m.mfu_basis.get("reason", ""),
                       m.mfu_basis.get("peak_tflops_per_chip"), usd, usd_mtok, marks))
    return out


@dataclass(frozen=True)
class HostRow:
    label: str
    share: chip_share.ChipShare
    chips_per_instance: float | None
    chips_source: str
    mfu: float | None
    usd_per_mtok: float | None
    marks: tuple[str, ...]
    withheld: str | None
    hand_mfu: float | None
    hand_usd_per_mtok: float | None
    hand: str
    """The by-hand arithmetic, written out."""


WHOLE_INSTANCE_USD = 64.0
"""An example whole-instance $/h for a trn2.48xlarge (the issue's figure), given as --usd-per-hour."""


def host_rows(tokens_per_s: float, usd_per_hour: float = WHOLE_INSTANCE_USD,
              run_date: dt.date = dt.date(2026, 12, 3)) -> list[HostRow]:
    from accelbench.facts import host

    kernel = kernels.get("gpt2")
    cfg = kernel.config("124m", {})
    tokens_per_step = kernel.tokens_per_step(cfg)
    flops_per_token = kernel.flops_per_step(cfg) / tokens_per_step
    step_s = tokens_per_step / tokens_per_s
    devices, prices = load_devices(), load_prices()
    docs_device = discovery.parse_neuron_ls_json((FIXTURES / "neuron" / "neuron-ls-trn2n.48xlarge-lnc2.json").read_text())[:1]
    read_md = host.Metadata("aws", "http://127.0.0.1", {"instance-type": "trn2.48xlarge", "region": "us-east-2"},
                            reason="EC2 instance metadata (IMDSv2)")
    no_md = host.Metadata(reason="no metadata service asked")
    achieved = flops_per_token * tokens_per_s / 1e12
    peak = devices["trn2"].peak_tflops["bf16"]
    quarter_usd = usd_per_hour * 0.25 / 16 / (tokens_per_s * 3600) * 1e6
    situations = [
        ("metadata + neuron-ls", read_md, docs_device, achieved / (peak * 0.25), quarter_usd,
         f"MFU {achieved:.4g}/({peak:g}x0.25); $ {usd_per_hour:g}x0.25/16/(tok/s x 3600)x1e6"),
        ("metadata, no neuron-ls", read_md, [], achieved / (peak * 0.25), quarter_usd,
         "share 8 cores / LNC 2 = 1/4 (derived); same as above"),
        ("neuron-ls, no metadata", no_md, docs_device, None,
         usd_per_hour * 0.25 / 1 / (tokens_per_s * 3600) * 1e6,
         f"no instance type: no MFU; 1 visible chip taken as the instance: {usd_per_hour:g}x0.25/1 (chips-assumed)"),
        ("neither", no_md, [], None, None, "share and chips per instance unknown: both withheld"),
    ]
    out = []
    for label, md, neuron, hand_mfu, hand_usd, hand in situations:
        itype = host.instance_type_fact(md).value
        for dev in neuron:
            dev.instance_type = itype
        view = chip_share.for_neuron_device(neuron[0] if neuron else None, None, devices, instance_type=itype)
        visible = discovery.visible_devices([], neuron, discovery.TpuChips(0, None, None), "neuron-ls")
        identity = host.identity(md, {}, visible)
        backend = BackendPart(name="torch-neuron", framework="torch", device_catalog_key=view.catalog_key,
                              device_count=1, precision="bf16",
                              info={"device": {"chip_share": view.share.share, "chip_share_source": view.share.source},
                                    "host": identity})
        kernel_part = KernelPart(name="gpt2", preset="124m", config={}, flop_convention=kernel.flop_convention)
        m = metrics.with_catalog_utilization(MetricsPart(tflops=achieved, tokens_per_s=tokens_per_s), kernel_part,
                                             backend, devices)
        facts = cost.RunFacts(metrics.chips_used(backend), view.catalog_key, view.kind, run_date, identity,
                              **cost.provenance(backend.info))
        part = cost.price_run(cost.PriceChoice(usd_per_hour=usd_per_hour), tokens_per_step, step_s, None, facts, prices)
        out.append(HostRow(label, view.share, part.chips_per_instance, part.chips_per_instance_kind, m.mfu,
                           part.usd_per_mtok, tuple(part.marks), part.withheld, hand_mfu, hand_usd, hand))
    return out


def _figure(value: float | None, fmt: str, missing: str) -> str:
    return format(value, fmt) if value is not None else missing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens-per-s", type=float, default=100_000.0)
    args = parser.parse_args(argv)
    print(f"gpt2:124m at an assumed {args.tokens_per_s:,.0f} tokens/s on one visible device\n")
    print("| device | chip share | bf16 peak/chip | MFU | price used | $/h charged | $/1M tokens | marks |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows(args.tokens_per_s):
        mfu = f"{r.mfu:.2%}" if r.mfu is not None else f"withheld ({r.mfu_note[:40]}...)"
        usd = f"{r.usd_per_hour:.6g}" if r.usd_per_hour is not None else "–"
        mtok = f"{r.usd_per_mtok:.6g}" if r.usd_per_mtok is not None else "no published price"
        print(f"| {r.label} | {r.share.share:g} | {r.peak_tflops_per_chip:g} | {mfu} | {r.instance or '–'} | {usd} "
              f"| {mtok} | {', '.join(r.marks) or '–'} |")
    print(f"\nOne logical NeuronCore of a trn2.48xlarge at --usd-per-hour {WHOLE_INSTANCE_USD:g} (whole instance), "
          f"{args.tokens_per_s:,.0f} tokens/s, by what the host tells\n")
    print("| situation | chip share (source) | chips/instance (source) | MFU | MFU by hand | $/1M tokens "
          "| $/1M by hand | marks | by hand |")
    print("|---|---|---|---|---|---|---|---|---|")
    for h in host_rows(args.tokens_per_s):
        share = "unknown" if h.share.source == "unknown" else f"{h.share.share:g} ({h.share.source})"
        chips = f"{_figure(h.chips_per_instance, 'g', 'null')} ({h.chips_source})"
        mtok = _figure(h.usd_per_mtok, ".6g", f"withheld: {(h.withheld or '')[:50]}...")
        print(f"| {h.label} | {share} | {chips} | {_figure(h.mfu, '.2%', 'withheld')} | "
              f"{_figure(h.hand_mfu, '.2%', 'none')} | {mtok} | {_figure(h.hand_usd_per_mtok, '.6g', 'none')} | "
              f"{', '.join(h.marks) or '–'} | {h.hand} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
