"""Price tiers (spot, capacity blocks, savings plans, ...), TPU slices as instances, and prices that
belong to their records (`report A=p5.48xlarge B=trn2.48xlarge`; one price over several instances refused)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import textwrap

import numpy as np
import pytest

from accelbench.harness import cost, preflight, stats
from accelbench.facts.catalog import CatalogError, TIERS, at_tier, find, load_prices
from accelbench.harness.price_list import describe
from accelbench.harness.cli import main
from accelbench.harness.records import BackendPart, KernelPart, MetricsPart, ResultRecord, TimingPart, write_record

from conftest import assert_one_line_error
from fakes import GOOD_PRICE, priced_record as record, record_folder as _folder

PRICES = load_prices()
TODAY = dt.date(2026, 12, 3)


def _write(tmp_path, text: str):
    path = tmp_path / "prices.toml"
    path.write_text(textwrap.dedent(text))
    return path


BOX = GOOD_PRICE + """
[instances."box.8x".tiers.spot]
usd_per_hour = 4.0
region = "us-east-1"
source = "https://example.com/spot"
as_of = 2026-11-26
confirmed = false
"""


# ------------------------------------------------------------------ the catalog
def test_trn2_tiers_from_public_sources_unconfirmed():
    trn2 = PRICES["trn2.48xlarge"]
    assert set(trn2.tiers) == {"spot", "capacity-block"}
    spot, block = at_tier(PRICES, trn2, "spot"), at_tier(PRICES, trn2, "capacity-block")
    assert (spot.usd_per_hour, spot.region) == (8.5964, "us-east-2")
    assert (block.usd_per_hour, block.region, block.as_of) == (36.29, "ap-south-2", dt.date(2026, 10, 3))
    assert round(689.59 / 19, 2) == block.usd_per_hour  # the log's 19 h for $689.59
    assert not (trn2.confirmed or spot.confirmed or block.confirmed)
    assert (trn2.usd_per_hour, trn2.disputed_by[0].usd_per_hour) == (35.76, 14.5556)
    for p in PRICES.values():  # every entry cites a public source, never the project's research notes
        assert "shared/" "research" not in p.source + p.note, p.name  # spelt in two, or this line would cite it


def test_a_tier_the_instance_lacks_is_one_line_naming_the_tiers_it_has():
    with pytest.raises(CatalogError, match=r"'p5.48xlarge' has no 'spot' price; its tiers: on-demand$"):
        at_tier(PRICES, PRICES["p5.48xlarge"], "spot")
    with pytest.raises(CatalogError, match="its tiers: on-demand, spot, capacity-block"):
        at_tier(PRICES, PRICES["trn2.48xlarge"], "reserved-3y")
    with pytest.raises(CatalogError, match="unknown tier 'cheap'; accepted: " + ", ".join(TIERS)):
        at_tier(PRICES, PRICES["p5.48xlarge"], "cheap")
    assert at_tier(PRICES, PRICES["p5.48xlarge"], "on-demand") is PRICES["p5.48xlarge"]


@pytest.mark.parametrize("change, needle", [
    (lambda t: t.replace("[instances.\"box.8x\".tiers.spot]", "[instances.\"box.8x\".tiers.cheap]"), "unknown tier 'cheap'"),
    (lambda t: t.replace('source = "https://example.com/spot"\n', ""), "missing 'source'"),
    (lambda t: t.replace("usd_per_hour = 4.0", "usd_per_hour = -4.0"), "'usd_per_hour' must be positive"),
    (lambda t: t.replace('region = "us-east-1"\nsource = "https://example.com/spot"', 'zone = "a"\nsource = "x"'),
     "unknown field 'zone'"),
    (lambda t: t.replace("confirmed = false", 'confirmed = "no"'), "'confirmed' must be true or false"),
    (lambda t: t + 'disputed_by = [{ usd_per_hour = 3.0, source = "x" }]\n', "missing 'as_of'"),
])
def test_a_bad_tier_names_file_entry_tier_and_field(tmp_path, change, needle):
    path = _write(tmp_path, change(BOX))
    with pytest.raises(CatalogError) as info:
        load_prices(builtin=path)
    message = str(info.value)
    assert needle in message and str(path) in message and "box.8x" in message and "\n" not in message


def test_prices_lists_tiers_under_their_instance():
    text = describe()
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("trn2.48xlarge"))
    assert "35.76" in lines[at] and "14.5556" in lines[at + 1]
    assert lines[at + 2].lstrip().startswith("- spot") and "8.596" in lines[at + 2]
    assert "capacity-block" in lines[at + 3] and "36.29" in lines[at + 3]


# ------------------------------------------------------------------ TPU slices
@pytest.mark.parametrize("name, chips, per_chip", [("v6e-8", 8, 2.70), ("tpu-v6e-8", 8, 2.70), ("v5e-8", 8, 1.20),
                                                    ("v5p-8", 4, 4.20)])
def test_tpu_slices_are_instances_with_per_chip_and_per_slice_prices(name, chips, per_chip):
    slice_ = find(PRICES, name)
    assert slice_.accelerators == chips and slice_.usd_per_chip_hour == pytest.approx(per_chip)
    assert slice_.usd_per_hour == pytest.approx(per_chip * chips)
    assert find(PRICES, "tpu7x-2x2x1").accelerators == 4 and find(PRICES, "tpu7x-2x2x1").usd_per_hour is None


def test_two_chips_of_a_v6e_8_are_a_quarter_of_its_price_and_say_2_of_8():
    choice = preflight.resolve_pricing("v6e-8", None, None)
    facts = cost.RunFacts(2.0, "tpu-v6e", "TPU v6 lite", TODAY)
    part = cost.price_run(choice, 8192, 0.1, None, facts, PRICES)
    assert part.usd_per_hour == pytest.approx(21.6 * 2 / 8) and part.chips_per_instance == 8
    assert any("2 of the 8 chips" in n for n in part.notes)
    one_chip = cost.price_run(preflight.resolve_pricing("gcp-tpu-v6e", None, None), 8192, 0.1, None, facts, PRICES)
    assert not any("2 of the 1 chips" in n for n in one_chip.notes)
    assert any("more than the 1 of the priced instance" in n for n in one_chip.notes)


# ------------------------------------------------------------------ --tier on the command line
def test_tier_prices_a_run_at_that_tier():
    choice = preflight.resolve_pricing("trn2.48xlarge", None, None, tier="spot")
    part = cost.price_run(choice, 8192, 0.1, None, cost.RunFacts(16.0, "trn2", "Trainium2", TODAY), PRICES)
    assert (part.instance_usd_per_hour, part.tier, part.instance) == (8.5964, "spot", "trn2.48xlarge-spot")
    disputed = cost.price_run(preflight.resolve_pricing("trn2.48xlarge", None, None), 8192, 0.1, None,
                              cost.RunFacts(16.0, "trn2", "Trainium2", TODAY), PRICES)
    assert cost.DISPUTED in disputed.marks and any("14.5556" in n for n in disputed.notes)


@pytest.mark.parametrize("args, needle", [
    (["--instance", "p5.48xlarge", "--tier", "spot"], "'p5.48xlarge' has no 'spot' price; its tiers: on-demand"),
    (["--instance", "p5.48xlarge", "--tier", "bogus"], "unknown tier 'bogus'"),
    (["--tier", "spot"], "--tier spot needs --instance NAME"),
    (["--usd-per-hour", "3", "--tier", "spot"], "--tier spot needs --instance NAME"),
])
def test_bad_tier_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    code = main(["run", "--kernel", "gpt2:tiny", "--backend", "torch-cpu", "--out", str(out), "--dry-run", *args])
    assert_one_line_error(code, capsys.readouterr().err, needle)
    assert not out.exists()


def test_dry_run_prices_the_tier(tmp_path, capsys):
    code = main(["run", "--kernel", "gpt2:tiny", "--backend", "torch-cpu", "--out", str(tmp_path / "o"),
                 "--dry-run", "--instance", "trn2.48xlarge", "--tier", "capacity-block"])
    assert code == 0 and "$36.29/h" in capsys.readouterr().out


# ------------------------------------------------------------------ prices that belong to their records
def test_each_folder_is_priced_as_its_own_instance(tmp_path, capsys):
    a = _folder(tmp_path, "a", record("h100-sxm", "H100", "p5.48xlarge"))
    b = _folder(tmp_path, "b", record("trn2", "Trainium2", "trn2.48xlarge"))
    csv = tmp_path / "r.csv"
    code = main(["report", f"{a}=p5.48xlarge", f"{b}=trn2.48xlarge", "--tier", "on-demand", "--csv", str(csv)])
    assert code == 0, capsys.readouterr().err
    import pandas as pd

    df = pd.read_csv(csv).set_index("folder")
    assert df.loc[str(a), "cost.instance"] == "p5.48xlarge" and df.loc[str(b), "cost.instance"] == "trn2.48xlarge"
    # 1 of 8 chips of a p5 for 0.1 s per 8192 tokens: 55.04/8 $/h / (81920 tok/s * 3600) * 1e6
    assert df.loc[str(a), "cost.usd_per_mtok"] == pytest.approx(55.04 / 8 / (81920 * 3600) * 1e6, rel=0.02)


def test_one_price_over_records_of_several_instances_is_refused(tmp_path, capsys):
    a = _folder(tmp_path, "a", record(None, "cpu", priced_as="p5.48xlarge"))
    b = _folder(tmp_path, "b", record(None, "cpu"))
    md = tmp_path / "r.md"
    code = main(["report", str(a), str(b), "--usd-per-hour", "10", "--md", str(md)])
    line = assert_one_line_error(code, capsys.readouterr().err, "--usd-per-hour 10 would price records from several")
    assert "p5.48xlarge" in line and "device cpu" in line and "DIR=INSTANCE" in line
    assert not md.exists()
    assert main(["report", str(b), "--usd-per-hour", "10", "--md", str(md)]) == 0  # one instance: fine


def test_report_tiers_all_shows_each_tier_and_the_cheapest_per_tier_by_hand(tmp_path, capsys):
    a = _folder(tmp_path, "a", record("h100-sxm", "H100", "p5.48xlarge"))
    trn2 = record("trn2", "Trainium2", "trn2.48xlarge")
    b = _folder(tmp_path, "b", trn2)
    md = tmp_path / "r.md"
    assert main(["report", f"{a}=p5.48xlarge", f"{b}=trn2.48xlarge", "--tiers", "all", "--md", str(md)]) == 0
    text = md.read_text()
    # trn2, 1 of 16 chips, 8192 tokens per 0.1 s step (81,920 tok/s): on-demand 35.76/16 $/h / (81920 x 3600) x 1e6
    # = $0.007579/1M; spot 8.5964 -> $0.001822; capacity block 36.29 -> $0.007691. p5, 1 of 8: 55.04/8 -> $0.02333.
    # (the synthetic samples' median is 0.1 s give or take their noise: the exact median is used below)
    tok_s = 8192 / trn2.timing.step_s["median"]
    by_hand = {t: usd / 16 / (tok_s * 3600) * 1e6 for t, usd in
               (("on-demand", 35.76), ("spot", 8.5964), ("capacity-block", 36.29))}
    assert f"{by_hand['on-demand']:.4g}*" in text and f"{by_hand['spot']:.4g}*" in text
    assert f"{by_hand['capacity-block']:.4g}*" in text
    assert f"spot: cheapest is b-trainium2-0 (trn2.48xlarge) at ${by_hand['spot']:.4g}/1M tokens" in text
    assert "on-demand: cheapest is b-trainium2-0 (trn2.48xlarge)" in text  # 0.00758 < p5's 0.0233
    code = main(["report", str(a), "--tiers", "some"])
    assert_one_line_error(code, capsys.readouterr().err, "--tiers")
