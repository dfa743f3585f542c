"""One flagship workload on every instance (or a stated difference), >= 10 windows, and per-kernel --set."""

from __future__ import annotations

import pytest

from accelbench.harness import plan, suite_file
from accelbench.harness.cli import main

from conftest import assert_one_line_error

WHOLE = ("whole-p5", "whole-trn1", "whole-trn2", "whole-v6e-8")


def _llama(name: str, items=()):
    return next(c for c in plan.build_plan(name, [], [], list(items)) if c.kernel == "llama")


@pytest.mark.parametrize("name", WHOLE)
def test_whole_instance_suites_run_the_flagship_or_say_where_they_differ(name):
    suite, case = suite_file.load_suite(name), _llama(name)
    assert case.preset == "8b" and case.repeats >= 10  # at least 10 windows for an interval
    tokens_per_step = case.kernel_settings["batch"] * case.kernel_settings["seq_len"]
    flagship = (case.kernel_settings["seq_len"], tokens_per_step) == (4096, 32768)
    assert flagship == (suite.differs == ""), (name, tokens_per_step)
    if not flagship:  # the difference is stated with the figures and why
        assert f"{tokens_per_step:,}" in suite.differs and "need one sequence each" in suite.differs


def test_suites_and_dry_run_show_where_a_suite_departs_from_the_flagship(capsys):
    assert main(["suites"]) == 0
    out = capsys.readouterr().out
    assert "flagship: llama:8b: 262,144 tokens per optimizer step" in out
    assert main(["run", "--suite", "whole-trn2", "--dry-run"]) == 0
    assert "workload differs from the flagship: llama:8b: 262,144" in capsys.readouterr().out


def test_per_kernel_set_changes_that_kernel_only():
    llama = _llama("whole-p5", ["llama:seq_len=8192", "llama:batch=16"])
    gpt2 = next(c for c in plan.build_plan("whole-p5", [], [], ["llama:seq_len=8192"]) if c.kernel == "gpt2")
    assert (llama.kernel_settings["seq_len"], llama.kernel_settings["batch"]) == (8192, 16)
    assert "seq_len" not in gpt2.kernel_settings
    # a per-kernel --set wins over the plain --set of the same key
    assert _llama("whole-p5", ["seq_len=2048", "llama:seq_len=1024"]).kernel_settings["seq_len"] == 1024


@pytest.mark.parametrize("item, needle", [
    ("gpt3:seq_len=1", "kernel 'gpt3' is not in this plan; kernels here: gpt2, llama"),
    ("llama:bogus=1", "unknown --set key 'llama:bogus'; accepted for llama:"),
    ("llama:seq_len=abc", "seq_len"),
])
def test_bad_per_kernel_set_is_one_line(tmp_path, capsys, item, needle):
    out = tmp_path / "o"
    code = main(["run", "--suite", "whole-p5", "--dry-run", "--set", item, "--out", str(out)])
    assert_one_line_error(code, capsys.readouterr().err, needle)
    assert not out.exists()


def test_the_report_says_where_one_workload_ran_different_settings(tmp_path, capsys):
    from accelbench.harness.records import write_record

    from fakes import priced_record as record

    for name, key, batch in (("a", "h100-sxm", 8), ("b", "trn2", 64)):
        rec = record(key, name.upper())
        rec.kernel.config = {"batch": batch, "seq_len": 4096}
        rec.kernel.tokens_per_step = batch * 4096
        (tmp_path / name).mkdir()
        write_record(tmp_path / name / f"gpt2-124m--{rec.backend.name}.json", rec)
    md = tmp_path / "r.md"
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--md", str(md)]) == 0
    text = md.read_text()
    assert "### Same workload, different settings" in text
    assert "gpt2:124m: batch differs: 8 (b-a-0 (A)); 64 (b-b-0 (B))" in text
    assert "tokens per step differs: 32768" in text and "seq_len differs" not in text
