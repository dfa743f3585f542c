"""Fake result records and folders that tests of several components share (compare, the CI gate, pricing,
pooling, the training-job cost). Importable from any test folder: pytest's ``pythonpath`` is tests/."""

from __future__ import annotations

import dataclasses

import numpy as np

from accelbench.harness import stats
from accelbench.harness.records import BackendPart, KernelPart, MetricsPart, ResultRecord, TimingPart, write_record


def make_record(kernel: str, backend: str, samples, status: str = "ok") -> ResultRecord:
    summary = stats.summarize(samples)
    return ResultRecord(
        run_id="synthetic", created_at="2026-11-26T00:00:00+00:00", status=status,
        kernel=KernelPart(name=kernel, preset="tiny", config={}, flops_per_step=1e9, tokens_per_step=64),
        backend=BackendPart(name=backend, framework="torch", device_kind="test-cpu", precision="fp32"),
        timing=TimingPart(steps=10, repeats=len(samples), warmup_steps=2, samples_s=[float(x) for x in samples],
                          step_s=dataclasses.asdict(summary)),
        error=None if status == "ok" else {"type": "Crash", "message": "the case process died of SIGKILL"},
    )


def steady(median: float, n: int = 30, noise: float = 0.02, seed: int = 0) -> np.ndarray:
    return median * np.exp(np.random.default_rng(seed).normal(0.0, noise, n))


CASES = {("gemm", "torch-cpu"): 0.010, ("gemm", "jax-cpu"): 0.012, ("gpt2", "torch-cpu"): 0.090}


def write_folder(folder, scale: dict | None = None, drop=(), fail=(), noisy=()):
    scale = scale or {}
    for i, ((kernel, backend), median) in enumerate(CASES.items()):
        if (kernel, backend) in drop:
            continue
        noise = 0.5 if (kernel, backend) in noisy else 0.02
        samples = steady(median, noise=noise, seed=i) * scale.get((kernel, backend), 1.0)
        status = "failed" if (kernel, backend) in fail else "ok"
        write_record(folder / f"{kernel}-tiny--{backend}.json", make_record(kernel, backend, samples, status))
    return folder


def priced_record(device_key: str | None, device: str, instance_type: str | None = None, priced_as: str | None = None,
           median: float = 0.1, tokens: int = 8192) -> ResultRecord:
    samples = median * np.exp(np.random.default_rng(0).normal(0, 0.01, 12))
    host = {"chips": {"count": 8 if device_key else None, "instance_type": instance_type}, "region": None}
    rec = ResultRecord(
        run_id=f"r-{device}-{priced_as}", created_at="2026-12-01T00:00:00+00:00", status="ok",
        kernel=KernelPart(name="gpt2", preset="124m", config={"batch": 8}, flops_per_step=1e12,
                          tokens_per_step=tokens, flop_convention="palm-6N+12LdT"),
        backend=BackendPart(name=f"b-{device.lower()}-{priced_as or 0}", framework="torch", device_kind=device, device_catalog_key=device_key,
                            precision="bf16", info={"device": {"chip_share": 1.0}, "host": host}),
        timing=TimingPart(compile_s=30.0, steps=10, repeats=12, warmup_steps=2, samples_s=list(samples),
                          step_s=dataclasses.asdict(stats.summarize(samples))),
        metrics=MetricsPart(tokens_per_s=tokens / median))
    if priced_as:
        rec.cost = {"instance": priced_as, "usd_per_hour": 1.0}
    return rec


def record_folder(tmp_path, name: str, rec: ResultRecord):
    folder = tmp_path / name
    folder.mkdir()
    write_record(folder / f"gpt2-124m--{rec.backend.name}.json", rec)
    return folder


GOOD_PRICE = """
[instances."box.8x"]
provider = "aws"
region = "us-east-1"
kind = "on-demand"
usd_per_hour = 16.0
accelerator = "h100-sxm"
accelerators = 8
source = "https://example.com/pricing"
as_of = 2026-11-26
confirmed = true
"""
"""A valid prices.toml entry, for tests that break one field of it (catalog, price tiers)."""
