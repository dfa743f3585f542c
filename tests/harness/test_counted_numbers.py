"""Numbers that say what they count: MFU's recompute basis, hbm_util per replica, peak memory per backend."""

from __future__ import annotations

import pytest

from accelbench.harness import metrics
from accelbench.facts.catalog import load_devices
from accelbench.harness.records import BackendPart, KernelPart, MetricsPart

DEVICES = load_devices()


def backend(devices: int = 1, strategy: str | None = None) -> BackendPart:
    info = {"device": {"chip_share": 1.0}}
    if devices > 1:
        info["parallel"] = {"devices": devices, "shard": {"strategy": strategy, "world_size": devices}}
    return BackendPart(name="torch-cuda", framework="torch", device_catalog_key="h100-sxm", precision="bf16",
                       device_count=devices, info=info)


@pytest.mark.parametrize("remat", [True, False])
def test_mfu_basis_says_recomputed_flops_are_excluded(remat):
    kernel = KernelPart(name="llama", preset="8b", config={"remat": remat}, flop_convention="6N+12LdT")
    basis = metrics.with_catalog_utilization(MetricsPart(tflops=100.0), kernel, backend(), DEVICES).mfu_basis
    assert basis["remat"] is remat and basis["recomputed_flops"] == metrics.RECOMPUTE_NOTE
    assert "excluded" in metrics.RECOMPUTE_NOTE and "8N" in metrics.RECOMPUTE_NOTE


def test_the_reports_flop_note_says_it_and_names_remat_workloads():
    pd = pytest.importorskip("pandas")
    from accelbench.reports import methodology

    rows = [{"workload": "llama:8b", "status": "ok", "kernel.flop_convention": "6N+12LdT", "backend.name": "x",
             "kernel.config.remat": True},
            {"workload": "gpt2:124m", "status": "ok", "kernel.flop_convention": "6N+12LdT", "backend.name": "x",
             "kernel.config.remat": False}]
    items = methodology._flops(pd.DataFrame(rows)).items
    note = [i for i in items if i.startswith("Recomputation:")]
    assert note == [f"Recomputation: {metrics.RECOMPUTE_NOTE} (remat on: llama:8b)."]


def test_replicated_data_parallel_hbm_is_per_replica():
    """8 replicas on 8 H100s: each moves bytes_per_step over its own 3.35 TB/s, not over 8 × 3.35."""
    kernel = KernelPart(name="llama", preset="8b", config={})
    h100 = DEVICES["h100-sxm"]
    one = metrics.with_catalog_utilization(MetricsPart(tflops=800.0, hbm_tbps=1.0), kernel, backend(), DEVICES)
    ddp = metrics.with_catalog_utilization(MetricsPart(tflops=800.0, hbm_tbps=1.0), kernel, backend(8, "none"), DEVICES)
    fsdp = metrics.with_catalog_utilization(MetricsPart(tflops=800.0, hbm_tbps=1.0), kernel, backend(8, "fsdp"), DEVICES)
    assert one.hbm_util == pytest.approx(1.0 / h100.memory_tbps)
    assert ddp.hbm_util == pytest.approx(one.hbm_util) and ddp.mfu_basis["hbm_chips"] == 1.0
    assert fsdp.hbm_util == pytest.approx(one.hbm_util / 8) and "sharded" in fsdp.mfu_basis["hbm_basis"]
    assert ddp.mfu == pytest.approx(one.mfu / 8)  # MFU still over every chip: the step's FLOPs are global


class FakeCuda:
    """torch.cuda's memory readers, as recorded after a step: 30 GiB of tensors at peak, 34 GiB held."""

    def max_memory_allocated(self, device):
        return 30 * 2**30

    def max_memory_reserved(self, device):
        return 34 * 2**30


def test_cuda_headline_is_the_reserved_peak_with_allocated_beside():
    from accelbench.backends.base import PreparedStep
    from accelbench.backends.torch_cuda import TorchCudaBackend

    cuda = TorchCudaBackend(cuda=FakeCuda())
    assert cuda.peak_memory_bytes() == 34 * 2**30
    info = cuda.after_timing(PreparedStep(step=lambda: None, observe=dict))
    assert info["peak_memory"] == {"max_memory_reserved": 34 * 2**30, "max_memory_allocated": 30 * 2**30,
                                   "headline": "max_memory_reserved"}


def test_xla_never_reports_current_use_as_peak(monkeypatch):
    from accelbench.backends import torch_xla

    class XM:
        def __init__(self, info):
            self.info = info

        def get_memory_info(self, device):
            return self.info

    import sys
    import types

    monkeypatch.setitem(sys.modules, "torch_xla", types.SimpleNamespace(device=lambda: "xla:0"))
    backend = torch_xla.TorchXlaBackend(torch_xla.XlaSettings(pjrt_device="TPU"))
    backend._pjrt = "TPU"
    monkeypatch.setattr(torch_xla, "_xm", lambda: XM({"bytes_used": 5, "bytes_limit": 9}))
    assert backend.peak_memory_bytes() is None  # not measured
    monkeypatch.setattr(torch_xla, "_xm", lambda: XM({"bytes_used": 5, "peak_bytes_used": 7}))
    assert backend.peak_memory_bytes() == 7


def test_the_policy_text_defines_peak_memory_per_backend():
    from accelbench.harness.timing import PEAK_MEMORY_DEFINITION

    for words in ("max_memory_reserved", "max_memory_allocated", "peak_bytes_used", "never taken for a peak",
                  "not measured", "peak_bytes_in_use", "ru_maxrss"):
        assert words in PEAK_MEMORY_DEFINITION, words
