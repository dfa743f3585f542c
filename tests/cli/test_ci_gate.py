"""Issue 22: compare's verdicts a CI job can trust, nothing found is not success, no silent overwrite,
and a command line without surprises (abbreviations, units, --set form, did-you-mean, plurals)."""

from __future__ import annotations

import argparse
import re

import pytest

from accelbench.harness import units
from accelbench.harness.cli import build_parser, main
from accelbench.harness.records import write_record
from accelbench.reports import compare
from accelbench.suggest import closest, plural
from fakes import make_record, steady, write_folder


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([*map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------------ verdicts
def _rewrite(folder, case, edit):
    import json

    path = folder / f"{case}.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_an_unstable_side_is_inconclusive_and_exits_0_unless_strict(tmp_path, capsys):
    old = write_folder(tmp_path / "old")
    new = write_folder(tmp_path / "new", scale={("gemm", "torch-cpu"): 1.5})
    _rewrite(new, "gemm-tiny--torch-cpu",
             lambda d: d["timing"].update(unstable=["load from other processes: about 3.2 runnable threads"]))
    code, out, err = run(capsys, "compare", old, new)
    assert code == 0, err
    assert "inconclusive: gemm-tiny--torch-cpu: UNSTABLE in NEW: load from other processes" in out
    assert "SLOWER" not in out and "regression" not in err
    code, _, err = run(capsys, "compare", old, new, "--strict")
    assert code == 1 and "inconclusive (--strict): gemm-tiny--torch-cpu" in err


@pytest.mark.parametrize("field, value, reason", [
    ("steps", 1, "timed differently: steps per window 10 → 1"),
    ("precision", "bf16", "timed differently: precision fp32 → bf16"),
])
def test_cases_timed_differently_are_inconclusive(tmp_path, capsys, field, value, reason):
    old = write_folder(tmp_path / "old")
    new = write_folder(tmp_path / "new", scale={("gemm", "torch-cpu"): 7.0})  # the "687% slower"
    part = "timing" if field == "steps" else "backend"
    _rewrite(new, "gemm-tiny--torch-cpu", lambda d: d[part].update({field: value}))
    code, out, _ = run(capsys, "compare", old, new)
    assert code == 0 and f"inconclusive: gemm-tiny--torch-cpu: {reason}" in out


def test_too_few_windows_is_inconclusive(tmp_path):
    old = make_record("gemm", "torch-cpu", steady(0.01, n=3)).to_dict()
    new = make_record("gemm", "torch-cpu", steady(0.01, n=3) * 2).to_dict()
    change = compare.compare_case("c", old, new, 0.05)
    assert change.verdict == compare.INCONCLUSIVE and change.note.startswith("too few windows: 3 in OLD")


def test_verdicts_follow_the_interval_against_the_threshold():
    old = make_record("gemm", "torch-cpu", steady(0.01, n=30)).to_dict()
    for scale, verdict in ((1.0, compare.SAME), (1.5, compare.SLOWER), (0.5, compare.FASTER)):
        new = make_record("gemm", "torch-cpu", steady(0.01, n=30, seed=7) * scale).to_dict()
        assert compare.compare_case("c", old, new, 0.05).verdict == verdict, scale
    new = make_record("gemm", "torch-cpu", steady(0.01, n=30, seed=7) * 1.06).to_dict()
    assert compare.compare_case("c", old, new, 0.05).verdict == compare.INCONCLUSIVE  # interval straddles +5%


def test_a_case_failing_in_both_exits_1(tmp_path, capsys):
    old = write_folder(tmp_path / "old", fail={("gemm", "torch-cpu")})
    new = write_folder(tmp_path / "new", fail={("gemm", "torch-cpu")})
    code, _, err = run(capsys, "compare", old, new)
    assert code == 1 and "regression: gemm-tiny--torch-cpu failed in" in err


# ----------------------------------------------------------- nothing found
def test_compare_with_an_empty_old_exits_3_naming_it(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    new = write_folder(tmp_path / "new")
    code, _, err = run(capsys, "compare", tmp_path / "empty", new)
    assert code == 3 and "no result records in" in one_line(err) and "empty/" in err


def test_report_of_an_empty_folder_exits_3_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code, out, err = run(capsys, "report", tmp_path / "empty", "--md", tmp_path / "r.md")
    assert code == 3 and f"no result records in {tmp_path / 'empty'}/" in one_line(err)
    assert not (tmp_path / "r.md").exists() and out == ""


def test_report_of_the_history_root_says_which_folder_to_give(tmp_path, capsys):
    from accelbench.harness import history

    root = tmp_path / "results"
    write_folder(root / "20261101T000000Z-aaaaaa")
    history.point_latest(root, "20261101T000000Z-aaaaaa")
    code, _, err = run(capsys, "report", root)
    assert code == 3 and "results/latest" in err.splitlines()[-1]


# --------------------------------------------------------------- --out
def test_run_into_a_folder_of_another_run_is_refused(tmp_path, capsys):
    out = write_folder(tmp_path / "out")
    before = sorted(p.name for p in out.iterdir())
    code, _, err = run(capsys, "run", "--kernel", "gemm:tiny", "--out", out)
    line = one_line(err)
    assert code == 2 and "--out" in line and "--resume" in line and "--overwrite" in line
    assert sorted(p.name for p in out.iterdir()) == before


# ------------------------------------------------------------ command line
def test_no_abbreviations_anywhere(capsys):
    code, _, err = run(capsys, "run", "--price", "p5.48xlarge")
    assert code == 2 and "unrecognized arguments: --price" in one_line(err) and "did you mean '--prices'" in err
    code, _, err = run(capsys, "compare", "a", "b", "--thresh", "5")
    assert code == 2 and "--thresh" in one_line(err)


@pytest.mark.parametrize("parse, text, value", [
    (units.usd_per_hour, "$55.04", 55.04), (units.usd_per_hour, "55.04/h", 55.04), (units.usd_per_hour, "55.04", 55.04),
    (units.percent, "5%", 5.0), (units.percent, "5", 5.0),
    (units.seconds, "5m", 300.0), (units.seconds, "300s", 300.0), (units.seconds, "300", 300.0),
    (units.seconds, "1h", 3600.0),
])
def test_units_are_understood(parse, text, value):
    assert parse(text) == pytest.approx(value)


@pytest.mark.parametrize("parse, text, accepted", [
    (units.usd_per_hour, "55.04€", "55.04, $55.04 or 55.04/h"), (units.percent, "5 pct", "5 or 5%"),
    (units.seconds, "5 fortnights", "300, 300s, 5m or 1h"), (units.seconds, "nan", "300s"),
])
def test_units_refused_say_what_is_accepted(parse, text, accepted):
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(accepted)):
        parse(text)


def test_every_parser_refuses_abbreviations():
    parser = build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert not parser.allow_abbrev and all(not p.allow_abbrev for p in subs.choices.values())


def test_set_key_space_value_shows_the_key_value_form(capsys):
    code, _, err = run(capsys, "run", "--set", "batch", "4", "--dry-run")
    assert code == 2 and "--set batch=4" in one_line(err)


@pytest.mark.parametrize("argv, suggestion", [
    (["--kernel", "GPT2"], "did you mean 'gpt2'"), (["--kernel", "gpt2:124M"], "did you mean '124m'"),
    (["--backend", "torch-cpus"], "did you mean 'torch-cpu'"), (["--suite", "smok"], "did you mean 'smoke'"),
    (["--set", "thread=1"], "did you mean 'threads'"),
])
def test_did_you_mean(capsys, argv, suggestion):
    code, _, err = run(capsys, "run", *argv, "--dry-run")
    assert code == 2 and suggestion in one_line(err)


def test_no_suggestion_for_an_unrelated_name():
    assert closest("xyz", ["gemm", "gpt2"]) is None and closest("gp", ["gemm", "gpt2"]) is None


def test_plurals():
    assert plural(1, "case") == "1 case" and plural(2, "case") == "2 cases" and plural(0, "case") == "0 cases"


def test_a_setting_that_cannot_apply_to_a_suite_case_is_an_error_naming_it(capsys):
    code, _, err = run(capsys, "run", "--set", "threads=1", "--dry-run")
    assert code == 2 and "cannot apply to gemm:tiny on jax-cpu" in one_line(err)


def test_a_suite_file_setting_that_cannot_apply_to_one_of_its_cases_is_an_error_too(tmp_path, capsys):
    suite = tmp_path / "mine.toml"
    suite.write_text('kernels = ["gemm:tiny"]\nbackends = ["torch-cpu", "jax-cpu"]\nsettings = { threads = 1 }\n')
    code, _, err = run(capsys, "run", "--suite", str(suite), "--dry-run")
    line = one_line(err)
    assert code == 2 and "setting 'threads' cannot apply to gemm:tiny on jax-cpu" in line
    assert "[kernel_settings.KERNEL]" in line
    code, _, _ = run(capsys, "run", "--suite", str(suite), "--backend", "torch-cpu", "--dry-run")
    assert code == 0  # chosen so that it applies to every case


@pytest.mark.slow  # one real case
def test_overwrite_deletes_the_earlier_run_s_records_first(tmp_path, capsys):
    import json

    out = write_folder(tmp_path / "out")
    code, _, err = run(capsys, "run", "--kernel", "gemm:tiny", "--backend", "torch-cpu", "--steps", "2",
                       "--repeats", "1", "--warmup", "0", "--quiet", "--overwrite", "--out", out)
    assert code == 0, err
    records = sorted(p.name for p in out.glob("*--*.json"))
    assert records == ["gemm-tiny--torch-cpu.json"]
    assert json.loads((out / records[0]).read_text())["run_id"] != "synthetic"


def test_resume_and_overwrite_together_are_refused(tmp_path, capsys):
    code, _, err = run(capsys, "run", "--kernel", "gemm:tiny", "--out", tmp_path, "--resume", "--overwrite")
    assert code == 2 and "contradict" in one_line(err)
