#!/usr/bin/env bash
# The GPU check, for a machine with one NVIDIA H100 or H200 and a CUDA build of PyTorch and JAX with
# its CUDA plugin already installed (it installs nothing from the network: only this project, editable,
# without dependencies, so the backends' entry points are registered).
#
#   OUT=/some/folder bash ci/gpu_check.sh
#
# 1. tests marked gpu: tiny presets on torch-cuda and jax-gpu, numerics against the float64 CPU reference;
# 2. GPT-2 124M, batch 16, T=1024, bf16: torch-cuda eager, torch-cuda with torch.compile, jax-gpu;
# 3. prints tokens/s and MFU of each next to ANCHORS below: the same runs measured on one NVIDIA H200 on
#    2026-11-26, one run each, when the project started (docs/architecture.md: where the pieces are).
# Records and reports land in $OUT/gpu and $OUT/gpu-eager.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$(mktemp -d)}
py=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONUNBUFFERED=1

"$py" -m pip install -q --no-deps --no-build-isolation -e . >/dev/null
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv || true
"$py" -m accelbench.harness.cli backends
"$py" -m accelbench.harness.cli env

echo "== numerics and event timing on the GPU (tiny presets; tests marked gpu)"
"$py" -m pytest -m gpu tests/test_backends_accel.py -q -p no:cacheprovider || true

echo "== GPT-2 124M, batch 16"
"$py" -m accelbench.harness.cli run --kernel gpt2:124m --set batch=16 --backend torch-cuda --set compile=true --backend jax-gpu \
    --steps 20 --repeats 3 --out "$out/gpu" || true
"$py" -m accelbench.harness.cli run --kernel gpt2:124m --set batch=16 --backend torch-cuda \
    --steps 20 --repeats 3 --out "$out/gpu-eager" || true

"$py" - "$out" <<'PY'
"""Each GPT-2 124M record next to its H200 anchor (2026-11-26, one run each; bf16 autocast, 6N+12LdT over 989 TFLOP/s)."""
import json, sys
from pathlib import Path

ANCHORS = {("torch-cuda", False): (341e3, 29.4), ("torch-cuda", True): (387e3, 33.4), ("jax-gpu", False): (448e3, 38.7)}
print(f"{'backend':<12} {'compile':<8} {'device':<24} {'tok/s':>10} {'MFU %':>7} {'anchor tok/s':>13} {'anchor MFU %':>13} "
      f"{'compile_s':>9} {'recompiled/clocks'}")
for path in sorted(Path(sys.argv[1]).glob("gpu*/gpt2-124m--*.json")):
    rec = json.loads(path.read_text())
    b, m, info = rec["backend"], rec.get("metrics") or {}, rec["backend"].get("info") or {}
    compiled = bool(info.get("torch_compile"))
    anchor = ANCHORS.get((b["name"], compiled), (None, None))
    if rec["status"] != "ok":
        print(f"{b['name']:<12} {str(compiled):<8} {rec['status']}: {(rec.get('error') or {}).get('message', '')[:200]}")
        continue
    mfu = m.get("mfu")
    window = info.get("timed_window") or {}
    print(f"{b['name']:<12} {str(compiled):<8} {str(b.get('device_kind'))[:24]:<24} {m['tokens_per_s']:>10,.0f} "
          f"{(mfu * 100 if mfu is not None else float('nan')):>7.1f} {anchor[0] or float('nan'):>13,.0f} "
          f"{anchor[1] or float('nan'):>13.1f} {rec['timing']['compile_s']:>9.1f} "
          f"SM MHz {window.get('sm_clock_start_mhz')}->{window.get('sm_clock_end_mhz')}")
PY
