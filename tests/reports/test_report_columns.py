"""The report's columns as named objects (reports/columns.py): a table is a
list of names; a headline column is added in one place; the caption takes a
column by name when every row has the same cell; case labels come from the
records without walking the DataFrame row by row. Records come from
ci/synthetic_records.py (copies of one real record), so no case runs."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from accelbench.reports import columns, load, report, tables

ROOT = Path(__file__).resolve().parents[2]


def _synthetic():
    spec = importlib.util.spec_from_file_location("synthetic_records", ROOT / "ci" / "synthetic_records.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    _synthetic().make_records(out, workloads=2, backends=10)  # backend 9: a what-if price
    return out


def built(folder) -> report.Report:
    return report.build(load.load_folders([folder]), with_plots=False)


def test_make_records_writes_one_loadable_record_per_workload_and_backend(tmp_path):
    paths = _synthetic().make_records(tmp_path, workloads=3, backends=5)
    loaded = load.load_folders([tmp_path])
    assert len(paths) == 15 and len(loaded.records) == 15 and not loaded.warnings
    assert len({(r["kernel"]["preset"], r["backend"]["name"]) for r in loaded.records}) == 15


def test_headline_columns_are_chosen_by_name(folder):
    table = built(folder).tables[0]
    assert table.names[0] == "case" and "throughput" in table.names and "ratio" in table.names
    assert table.headers[table.names.index("throughput")] == "tokens/s per chip (95% CI)"
    assert table.cells("case") == [row[0] for row in table.rows]
    detail = table.detail
    assert detail.names == list(columns.DETAIL)
    assert all(h.words == columns.DETAIL_COLUMNS[h.name].words for h in detail.headings)


def test_a_column_with_one_value_on_every_row_is_said_once_in_the_caption(folder):
    table = built(folder).tables[0]
    # every copy ran on the same chip, configuration and checks: said once, by the column's header
    for name in ("chip", "configuration", "checks"):
        assert name not in table.names
    caption = table.notes[0]
    assert caption.startswith("On every row: chip AMD EPYC; configuration batch 2, sequence 32, precision fp32")
    assert "checks numerics passed" in caption


def test_a_headline_column_is_added_in_one_place(folder, monkeypatch):
    per_joule = columns.Column(
        "tokens_per_joule", lambda ctx: "tokens per joule",
        lambda r, ctx: f"{r.per_chip / 100:.3g}" if r.per_chip else "–",
        lambda r, ctx: r.per_chip / 100 if r.per_chip else None)
    monkeypatch.setitem(columns.HEADLINE_COLUMNS, "tokens_per_joule", per_joule)
    monkeypatch.setattr(columns, "HEADLINE", columns.HEADLINE[:4] + ("tokens_per_joule",) + columns.HEADLINE[4:])
    rep = built(folder)
    table = rep.tables[0]
    at = table.names.index("tokens_per_joule")
    assert table.names[at - 1] == "throughput" and table.headers[at] == "tokens per joule"
    assert all(cell != "–" for cell in table.cells("tokens_per_joule"))
    # the rest still stand where their names say: a shifted position cannot move a cell under another header
    assert "1× (baseline)" in table.cells("ratio")
    from accelbench.reports import html, render

    assert "| tokens per joule |" in render.markdown(rep) and 'data-label="tokens per joule"' in html.document(rep)


def test_a_column_shown_only_when_its_condition_holds():
    cost = columns.HEADLINE_COLUMNS["cost"]
    one_micro = columns.Context(rows=[object()], training=False)
    assert not cost.shown(one_micro) and cost.shown(dataclasses.replace(one_micro, training=True))


def test_variant_labels_read_the_records():
    def rec(backend, settings=None, config=None, run="r1"):
        return {"backend": {"name": backend, "settings": settings or {}}, "kernel": {"config": config or {"batch": 2}},
                "run_id": run}

    records = [rec("torch-cpu", {"compile": True}), rec("torch-cpu", {"compile": False}), rec("jax-cpu"),
               rec("jax-cpu", run="r2")]
    assert tables.variant_labels(records) == ["torch-cpu (compile=True)", "torch-cpu (compile=False)",
                                              "jax-cpu (run r1)", "jax-cpu (run r2)"]
    records.append(rec("jax-cpu", config={"batch": 4}))
    assert tables.variant_labels(records)[-1] == "jax-cpu (batch=4)"


def test_the_summary_gives_the_winners_margin_even_when_the_winner_is_the_baseline(folder):
    loaded = load.load_folders([folder])
    df = loaded.frame()
    [(workload, rows, _)] = [w for w in tables.workloads(df, None) if w[0] == "gpt2:w00"]
    fastest = rows[0].backend
    rep = report.build(loaded, baseline=fastest, with_plots=False)
    sentence = next(s for s in rep.summary if s.startswith("gpt2:w00: fastest"))
    assert f"({fastest}, the baseline)" in sentence and "the baseline itself" not in sentence
    margin = sentence.split("tokens/s per chip, ")[1]
    assert margin.split("× (")[0].replace(".", "").isdigit() and "the throughput per chip of the runner-up" in margin
    lo, hi = (float(x) for x in margin.split("× (")[1].split(")")[0].split("–"))
    assert lo <= float(margin.split("×")[0]) <= hi


def test_each_mark_is_explained_under_the_first_table_that_shows_it(folder):
    rep = built(folder)
    first, second = rep.tables[0], rep.tables[1]
    legend = " ".join(first.legend)
    for mark in ("what-if", "unconfirmed", "UNSTABLE"):  # the synthetic copies carry all three
        assert f"{mark}: " in legend
    assert second.legend == []  # said once
    from accelbench.reports import render

    md = render.markdown(rep)
    assert md.index("_what-if: the price of another device") < md.index("## gpt2:w01")


def test_no_chart_draws_more_bars_than_a_reader_can_read(tmp_path):
    from accelbench.reports import plots

    _synthetic().make_records(tmp_path, workloads=12, backends=8)
    df = load.load_folders([tmp_path]).frame()
    built_rows = tables.workloads(df, "torch-cpu-b00")
    for metric in ("tokens", "cost"):
        bars, _, left_out = plots._bars(df, metric, built_rows)
        assert len(bars) <= plots.MOST_BARS and "are in the tables" in left_out
        per_workload = {}
        for bar in bars:
            per_workload.setdefault(bar.group, []).append(bar)
        assert all(len(group) <= 2 for group in per_workload.values())  # its best and its baseline
    few, _, left_out = plots._bars(df[df["workload"] == "gpt2:w00"], "tokens", built_rows[:1])
    assert len(few) == 8 and left_out == ""
