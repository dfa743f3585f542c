"""torch-cuda: PyTorch on an NVIDIA GPU (CUDA) or an AMD GPU (ROCm, same API).

Default precision ``bf16``: autocast to bfloat16 around the forward pass with
fp32 master weights, gradients and AdamW state (the kernels' lowerings do the
autocast; ``accelbench.kernels.torch_models.autocast_context``). AdamW is the fused CUDA
kernel (``fused=True``, chosen by the lowering for device type ``cuda``).
Attention is ``F.scaled_dot_product_attention``, which picks FlashAttention-2
for bf16 on sm80+ by itself; ``--set sdpa=flash|efficient|cudnn|math`` pins one.

TF32 follows the precision policy: ``fp32`` turns TF32 off for matmuls and
cuDNN (true fp32), ``tf32`` turns it on; ``bf16`` leaves it off, so the few
ops autocast keeps in fp32 stay fp32.

``--set compile=true`` wraps the forward module in ``torch.compile`` (inductor);
it compiles in step 1, which the harness reports as ``compile_s``.
``--set cuda_graphs=true`` compiles with ``mode="reduce-overhead"``: inductor
captures the compiled forward and backward into CUDA graphs (CUDA graph trees)
and replays them, removing per-kernel launch cost; the fused AdamW step stays
outside the graphs. It implies ``compile=true``.

Timing (``harness.timing``'s window policy): the host launches the window's
steps without synchronising, then one ``torch.cuda.synchronize()``; the
window is the host clock around both. CUDA events recorded on the stream at
the window's ends give its device time too (``timed_window.event_s``, a
diagnostic: "Asynchronous execution" in the PyTorch CUDA semantics notes).
Peak memory is ``torch.cuda.max_memory_allocated``, never reset: the process
peak, as every backend defines it. SM clocks are read (NVML, else
nvidia-smi) at both ends of the timed windows, so a throttled run shows in
its record.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable

from accelbench.backends import discovery
from accelbench.backends.base import Availability, BackendError, DeviceInfo, EnergyMeterChoice, PreparedStep
from accelbench.backends.torch_common import TorchBackend, TorchSettings
from accelbench.facts.envinfo import package_version

SDPA_CHOICES = ("auto", "flash", "efficient", "cudnn", "math")
PROBE_TIMEOUT_S = 60
INSTALL_HINT = "install a CUDA or ROCm build of PyTorch (https://pytorch.org/get-started/locally/)"


@dataclass
class CudaSettings(TorchSettings):
    cuda_graphs: bool = False
    """Capture the compiled step in CUDA graphs (torch.compile mode="reduce-overhead"); implies compile."""
    device_index: int = 0
    """Which visible GPU (after CUDA_VISIBLE_DEVICES) a one-device case runs on;
    a data-parallel rank runs on its own (``LOCAL_RANK``), given to the backend by its launcher."""
    sdpa: str = "auto"
    """Scaled-dot-product-attention kernel: auto (PyTorch picks; flash for bf16), flash, efficient, cudnn, math."""


@dataclass(frozen=True)
class TorchProbe:
    """What a torch import in a child process reported."""

    version: str
    cuda: str | None
    hip: str | None
    device_count: int


def probe_torch(timeout_s: float = PROBE_TIMEOUT_S) -> TorchProbe | str:
    """Import torch in a child process (this one stays free of torch and of a
    CUDA context) and report its build and visible GPUs; a string on failure."""
    code = ("import json, torch; print(json.dumps({'version': torch.__version__, 'cuda': torch.version.cuda, "
            "'hip': getattr(torch.version, 'hip', None), 'device_count': torch.cuda.device_count()}))")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return f"importing torch and counting GPUs took over {timeout_s:g} s"
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return f"importing torch failed: {tail}"
    return TorchProbe(**json.loads(out.stdout.strip().splitlines()[-1]))


def cuda_availability(
    nvidia: tuple[bool, str],
    amd: tuple[bool, str],
    version: str | None,
    probe: Callable[[], TorchProbe | str],
) -> Availability:
    """The decision, from cheap checks to the expensive one. ``nvidia``/``amd``
    are (found, what was looked at); ``probe`` runs only when the cheap checks pass."""
    problems = []
    if not (nvidia[0] or amd[0]):
        problems.append(f"no NVIDIA or AMD GPU found ({nvidia[1]}; {amd[1]})")
    if version is None:
        problems.append(f"PyTorch is not installed: {INSTALL_HINT}")
    elif "+cpu" in version:
        problems.append(f"PyTorch here is a CPU build ({version}): {INSTALL_HINT}")
    if problems:
        return Availability.no("; ".join(problems))
    found = probe()
    if isinstance(found, str):
        return Availability.no(found)
    if not (found.cuda or found.hip):
        return Availability.no(f"PyTorch {found.version} has no CUDA or ROCm support "
                               f"(torch.version.cuda and torch.version.hip are None): {INSTALL_HINT}")
    if found.device_count == 0:
        stack = f"CUDA {found.cuda}" if found.cuda else f"ROCm/HIP {found.hip}"
        return Availability.no(f"PyTorch {found.version} ({stack}) sees no GPU: torch.cuda.device_count() is 0 "
                               "(check CUDA_VISIBLE_DEVICES / HIP_VISIBLE_DEVICES and that the driver supports "
                               f"{stack})")
    return Availability.yes()


class TorchCudaBackend(TorchBackend):
    name = "torch-cuda"
    process_group = "nccl"  # torch docs, "Distributed communication package"
    fence_description = "torch.cuda.synchronize() after each window of steps (CUDA events around it as a diagnostic)"
    fence_call_description = "torch.cuda.synchronize(device)"
    default_precision = "bf16"
    settings_cls = CudaSettings

    def __init__(self, settings: CudaSettings | None = None, device_index: int | None = None, cuda=None):
        """``device_index``: the visible GPU this process runs on (a rank's
        ``LOCAL_RANK``; default ``settings.device_index``). ``cuda``: the
        ``torch.cuda`` API to call (default the real one; tests pass a fake
        built on recorded facts). Every device call below names this index, so
        a rank builds, fences, meters and reads memory on its own GPU only."""
        super().__init__(settings, device_index)
        if self.device_index is None:
            self.device_index = self.settings.device_index
        self._cuda_api = cuda
        if self.settings.sdpa not in SDPA_CHOICES:
            raise BackendError(f"unknown sdpa '{self.settings.sdpa}' for backend '{self.name}'; "
                               f"accepted: {', '.join(SDPA_CHOICES)}")
        if self.settings.cuda_graphs and self.settings.compile_backend != "inductor":
            raise BackendError("cuda_graphs=true needs compile_backend=inductor (it uses torch.compile "
                               f"mode='reduce-overhead'), got '{self.settings.compile_backend}'")
        self._window: dict[str, Any] = {}

    @classmethod
    def available(cls) -> Availability:
        return cuda_availability(discovery.nvidia_gpu_present(), discovery.amd_gpu_present(),
                                 package_version("torch"), probe_torch)

    def _cuda(self):
        if self._cuda_api is None:
            import torch

            return torch.cuda
        return self._cuda_api

    # ---------------------------------------------------------------- setup
    def torch_device(self):
        return f"cuda:{self.device_index}"

    @property
    def compiles(self) -> bool:
        return bool(self.settings.compile or self.settings.cuda_graphs)

    def wrap(self):
        if not self.compiles:
            return None
        import torch

        mode = "reduce-overhead" if self.settings.cuda_graphs else None
        return lambda fn: torch.compile(fn, backend=self.settings.compile_backend, mode=mode)

    def configure(self) -> None:
        import torch

        super().configure()
        # The process's current device is this rank's, so kernels, events and
        # streams that take the current device land on it (DDP docs: "set_device").
        self._cuda().set_device(self.device_index)
        allow_tf32 = self.precision == "tf32"
        with warnings.catch_warnings():  # newer torch suggests its fp32_precision API; same switches
            warnings.simplefilter("ignore")
            torch.backends.cuda.matmul.allow_tf32 = allow_tf32
            torch.backends.cudnn.allow_tf32 = allow_tf32

    def prepare(self, kernel, cfg, state) -> PreparedStep:
        prepared = super().prepare(kernel, cfg, state)
        if self.settings.sdpa != "auto":
            from torch.nn.attention import SDPBackend, sdpa_kernel

            chosen = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
                      "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}[self.settings.sdpa]
            inner = prepared.step

            def step():
                with sdpa_kernel(chosen):
                    return inner()

            prepared.step = step
        return prepared

    def case_info(self) -> dict[str, Any]:
        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tf32 = bool(torch.backends.cuda.matmul.allow_tf32)
        return {
            **super().case_info(),
            "torch_compile": self.compiles,
            "compile_mode": "reduce-overhead" if self.settings.cuda_graphs else ("default" if self.compiles else None),
            "cuda_graphs": bool(self.settings.cuda_graphs),
            "matmul_allow_tf32": tf32,
            "sdpa": self.settings.sdpa,
            "flash_sdp_enabled": bool(torch.backends.cuda.flash_sdp_enabled()),
            "fused_adamw": True,
        }

    # ---------------------------------------------------------------- device
    def device_info(self) -> DeviceInfo:
        import torch

        cuda = self._cuda()
        index = self.device_index
        props = cuda.get_device_properties(index)
        uuid = _uuid(props)
        record = None
        if torch.version.cuda:
            gpus = discovery.nvidia_gpus()
            record = next((g for g in gpus if uuid and g.uuid == uuid), None) or (gpus[index] if len(gpus) > index else None)
        extra: dict[str, Any] = {
            "cuda": torch.version.cuda,
            "hip": getattr(torch.version, "hip", None),
            "visible_devices": cuda.device_count(),
            "device_index": index,
            "capability": f"{props.major}.{props.minor}",
            "multiprocessors": props.multi_processor_count,
            "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        }
        if record is not None:
            extra.update({"uuid": record.uuid, "driver_cuda_version": record.cuda_version,
                          "sm_clock_max_mhz": record.sm_clock_max_mhz, "power_limit_w": record.power_limit_w,
                          "pci_bus_id": record.pci_bus_id})
        self._uuid = record.uuid if record is not None else uuid
        if getattr(torch.version, "hip", None):
            meter = EnergyMeterChoice.none("no ROCm SMI energy reader yet")
        elif self._uuid:
            meter = EnergyMeterChoice.nvml([self._uuid])  # NVML opened by the UUID of the GPU this process runs on
        else:
            meter = EnergyMeterChoice.none(f"the UUID of GPU {index} could not be resolved, so NVML cannot be opened on it")
        return DeviceInfo(
            kind=props.name,
            catalog_key=discovery.gpu_catalog_key(props.name),
            count=1,
            memory_bytes=int(props.total_memory),
            driver=record.driver if record is not None else (f"HIP {torch.version.hip}" if torch.version.hip else None),
            extra=extra,
            energy_meter=meter,
        )

    def fence(self, outputs) -> None:
        self._cuda().synchronize(self.device_index)

    # ---------------------------------------------------------------- timing
    def _sm_clock(self) -> float | None:
        if not getattr(self, "_uuid", None):
            return None
        return discovery.sm_clock(uuid=self._uuid).sm_mhz

    def begin_timing(self) -> None:
        super().begin_timing()  # the compile-counter snapshot (TorchBackend)
        if not self._window:  # once, before the first window: idle device, SM clock at the start
            self._cuda().synchronize(self.device_index)
            self._window = {"sm_clock_start_mhz": self._sm_clock(), "event_s": 0.0, "wall_s": 0.0}

    def begin_window(self) -> Any:
        cuda = self._cuda()
        start, end = cuda.Event(enable_timing=True), cuda.Event(enable_timing=True)  # on this device's current stream
        start.record()
        return start, end

    def fence_window(self, window: Any, outputs: Any) -> None:
        window[1].record()
        self._cuda().synchronize(self.device_index)

    def end_window(self, window: Any, host_seconds: float) -> None:
        start, end = window
        self._window["wall_s"] += host_seconds
        self._window["event_s"] += start.elapsed_time(end) / 1e3  # ms -> s

    def after_timing(self, prepared: PreparedStep) -> dict[str, Any]:
        """SM clock at both ends of the timed window, and the batch's wall time
        next to the sum of its event times (a large gap means host stalls)."""
        window = dict(self._window)
        window["sm_clock_end_mhz"] = self._sm_clock()
        cuda = self._cuda()
        peak = {"max_memory_reserved": int(cuda.max_memory_reserved(self.device_index)),
                "max_memory_allocated": int(cuda.max_memory_allocated(self.device_index)),
                "headline": "max_memory_reserved"}  # harness.timing.PEAK_MEMORY_DEFINITION
        return {**super().after_timing(prepared), "timed_window": window, "peak_memory": peak}

    def peak_memory_bytes(self) -> int | None:
        """The caching allocator's peak hold on the device (what must fit); live tensors' peak is beside it."""
        return int(self._cuda().max_memory_reserved(self.device_index))


def _uuid(props) -> str | None:
    """torch reports the UUID without nvidia-smi's 'GPU-' prefix."""
    raw = getattr(props, "uuid", None)
    if raw is None:
        return None
    text = str(raw)
    return text if text.startswith("GPU-") else f"GPU-{text}"
