"""`report --train-tokens N`: a job's cost and time at the measured throughput, the time paid before the
first timed step, and the break-even between a case that compiles longer and one that runs dearer.
Figures checked by hand beside each assertion."""

from __future__ import annotations

import pytest

from accelbench.harness.cli import main
from accelbench.harness.measure import compile_cache_facts, process_age_s
from accelbench.reports import training_cost as tc

from conftest import assert_one_line_error
from fakes import priced_record as record, record_folder as _folder


@pytest.mark.parametrize("text, tokens", [("1e9", 1e9), ("500M", 5e8), ("2B", 2e9), ("1.5T", 1.5e12), ("1000", 1e3),
                                          ("2k", 2e3), ("3e+6", 3e6)])
def test_token_counts_are_read_with_suffixes(text, tokens):
    assert tc.parse_tokens(text) == tokens


@pytest.mark.parametrize("text", ["-5", "1e99", "abc", "0", "", "5 MB", "nan", "inf", "1e16"])
def test_bad_token_counts_are_refused(text):
    with pytest.raises(ValueError, match="accepted: a positive token count"):
        tc.parse_tokens(text)


@pytest.mark.parametrize("value", ["-5", "1e99", "abc"])
def test_bad_train_tokens_exit_2_one_line_nothing_written(tmp_path, capsys, value):
    folder = _folder(tmp_path, "a", record("h100-sxm", "H100", "p5.48xlarge"))
    md = tmp_path / "r.md"
    code = main(["report", str(folder), "--md", str(md), f"--train-tokens={value}"])
    assert_one_line_error(code, capsys.readouterr().err, "--train-tokens")
    assert not md.exists()


def _record(median: float, tokens: int, compile_s: float, setup_s: float | None, usd_per_hour: float,
            warmup: int = 2, ci=None) -> dict:
    return {"status": "ok", "kernel": {"name": "llama", "preset": "8b", "tokens_per_step": tokens},
            "backend": {"name": "b", "device_kind": "d", "info": {"compile_cache": {"NEURON_COMPILE_CACHE_URL": None}}},
            "timing": {"step_s": {"median": median, "ci95": ci}, "compile_s": compile_s, "setup_s": setup_s,
                       "warmup_steps": warmup},
            "cost": {"usd_per_hour": usd_per_hour, "instance": f"i-{usd_per_hour}"}}


def test_cost_of_1e9_tokens_includes_the_recorded_compile_by_hand():
    # 65,536 tokens per 2.0 s step = 32,768 tok/s; 1e9 tokens take 1e9 / 32768 = 30,517.58 s.
    # Before the first timed step: 12 s process start + 1,800 s compile + 2 warm-up steps x 2.0 s = 1,816 s.
    # At $35.76/h: (1,816 + 30,517.58) s x 35.76 / 3600 = $321.19.
    job = tc.job_cost(_record(2.0, 65536, 1800.0, 12.0, 35.76, ci=[1.9, 2.1]), 1e9)
    assert job.run_s == pytest.approx(30517.578, rel=1e-6)
    assert job.before_s == pytest.approx(1816.0) and job.missing == []
    assert job.usd == pytest.approx(321.19, abs=0.01)
    lo, hi = job.usd_ci95  # the step interval: (1816 + 1e9/65536 x 1.9) x 35.76/3600 .. (x 2.1)
    assert lo == pytest.approx((1816 + 1e9 / 65536 * 1.9) * 35.76 / 3600) and hi > job.usd > lo


def test_missing_process_start_is_said():
    job = tc.job_cost(_record(2.0, 65536, 1800.0, None, 35.76), 1e9)
    assert job.before_s == pytest.approx(1804.0) and "process start (timing.setup_s) not recorded" in job.missing


def test_break_even_between_a_long_compile_and_a_dearer_step_by_hand():
    # A: compiles 3,600 s, then $0.50/1M tokens; B: compiles 60 s, then $1.00/1M tokens. Both at $36/h = $0.01/s.
    # A: 100,000 tok/s x ... choose step so that A = 36/(tok/s x 3600) x 1e6 = 0.5 -> 20,000 tok/s; B: 10,000 tok/s.
    # Before: A 3,600 s x $0.01 = $36; B 60 s x $0.01 = $0.60 (no warm-up, no setup).
    # N* = (36 - 0.60) / (1.00e-6 - 0.50e-6) = 70.8e6 tokens.
    a = tc.job_cost(_record(1.0, 20000, 3600.0, 0.0, 36.0, warmup=0), 1e9)
    b = tc.job_cost(_record(1.0, 10000, 60.0, 0.0, 36.0, warmup=0), 1e9)
    be = tc.break_even(a, b)
    assert be.tokens == pytest.approx(70.8e6) and be.cheaper_per_token == a.case
    assert tc.break_even(b, a).tokens == pytest.approx(70.8e6)  # symmetric
    cheap_everywhere = tc.job_cost(_record(1.0, 20000, 30.0, 0.0, 36.0, warmup=0), 1e9)
    assert tc.break_even(cheap_everywhere, b) is None  # cheaper both before and per token: no crossing
    # just below N* B is the cheaper job, just above A is
    for n, a_cheaper in ((70e6, False), (72e6, True)):
        ja = tc.job_cost(_record(1.0, 20000, 3600.0, 0.0, 36.0, warmup=0), n)
        jb = tc.job_cost(_record(1.0, 10000, 60.0, 0.0, 36.0, warmup=0), n)
        assert (ja.usd < jb.usd) is a_cheaper


def test_report_has_a_training_job_section(tmp_path, capsys):
    a = _folder(tmp_path, "a", record("h100-sxm", "H100", "p5.48xlarge"))
    md = tmp_path / "r.md"
    assert main(["report", f"{a}=p5.48xlarge", "--md", str(md), "--train-tokens", "2B"]) == 0, capsys.readouterr().err
    text = md.read_text()
    assert "## Training job: 2B tokens" in text and "Training job cost (2B tokens)" in text
    assert "process start (timing.setup_s) not recorded" in text  # the synthetic record has no setup_s


def test_the_case_process_records_its_start_and_compile_cache(monkeypatch):
    age = process_age_s()
    assert age is None or 0 <= age < 24 * 3600
    monkeypatch.setenv("NEURON_COMPILE_CACHE_URL", "s3://bucket/cache")
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    facts = compile_cache_facts()
    assert facts["NEURON_COMPILE_CACHE_URL"] == "s3://bucket/cache" and facts["JAX_COMPILATION_CACHE_DIR"] is None
