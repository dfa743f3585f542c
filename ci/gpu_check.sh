#!/usr/bin/env bash
# The GPU check, for a machine with one NVIDIA H100 or H200 and a CUDA build of PyTorch and JAX with
# its CUDA plugin already installed (it installs nothing from the network: only this project, editable,
# without dependencies, so the backends' entry points are registered).
#
#   OUT=/some/folder bash ci/gpu_check.sh
#
# 1. tests marked gpu: tiny presets on torch-cuda and jax-gpu, numerics against the float64 CPU reference;
# 2. GPT-2 124M, batch 16, T=1024, bf16: torch-cuda eager, torch-cuda with torch.compile, jax-gpu;
# 3. prints tokens/s and MFU of each next to its anchor (H200, 2026-11-26) and checks MFU against its band.
# Every step runs; the script exits 1 at the end when any step failed, any case is not ok, or an MFU is
# outside its band (a GPU case that cannot run here, e.g. no CUDA, is a failure: `run` exits 3 then).
#
# MFU bands (percent, the anchor ±25% of itself; 6N+12LdT FLOPs over the catalog's bf16 dense peak):
# band torch-cuda eager    22.0 36.8   (anchor 341,000 tok/s, 29.4 %)
# band torch-cuda compile  25.0 41.8   (anchor 387,000 tok/s, 33.4 %)
# band jax-gpu eager       29.0 48.4   (anchor 448,000 tok/s, 38.7 %)
# Records and reports land in $OUT/gpu and $OUT/gpu-eager.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$(mktemp -d)}
py=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 PYTHONUNBUFFERED=1
status=0
step() { "$@" || { echo "gpu_check: FAILED (exit $?): $*" >&2; status=1; }; }

step "$py" -m pip install -q --no-deps --no-build-isolation -e .
step nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm,power.limit --format=csv
step "$py" -m accelbench.harness.cli backends
step "$py" -m accelbench.harness.cli env

echo "== numerics and timing on the GPU (tiny presets; tests marked gpu)"
step "$py" -m pytest -m gpu tests/backends/test_accelerator_backends.py -q -p no:cacheprovider

echo "== GPT-2 124M, batch 16"
step "$py" -m accelbench.harness.cli run --kernel gpt2:124m --set batch=16 --backend torch-cuda --set compile=true \
    --backend jax-gpu --steps 10 --repeats 10 --out "$out/gpu"
step "$py" -m accelbench.harness.cli run --kernel gpt2:124m --set batch=16 --backend torch-cuda \
    --steps 10 --repeats 10 --out "$out/gpu-eager"

step "$py" - "$out" "$0" <<'PY'
"""Each GPT-2 124M record next to its anchor; exit 1 when a case is not ok or its MFU is outside its band."""
import json, sys
from pathlib import Path

bands = {}
for line in Path(sys.argv[2]).read_text().splitlines():  # "# band BACKEND MODE LOW HIGH ...": the header is the one place
    words = line.split()
    if words[:2] == ["#", "band"]:
        bands[(words[2], words[3] == "compile")] = (float(words[4]), float(words[5]))
records = sorted(Path(sys.argv[1]).glob("gpu*/gpt2-124m--*.json"))
bad = [] if records else ["no GPT-2 124M record was written"]
print(f"{'backend':<12} {'compile':<8} {'device':<24} {'tok/s':>10} {'MFU %':>7} {'band %':>11} "
      f"{'compile_s':>9} {'unstable / SM clocks'}")
for path in records:
    rec = json.loads(path.read_text())
    b, m, info = rec["backend"], rec.get("metrics") or {}, rec["backend"].get("info") or {}
    compiled = bool(info.get("torch_compile"))
    band = bands.get((b["name"], compiled))
    if rec["status"] != "ok":
        bad.append(f"{path.name}: {rec['status']}")
        print(f"{b['name']:<12} {str(compiled):<8} {rec['status']}: {(rec.get('error') or {}).get('message', '')[:200]}")
        continue
    mfu = (m.get("mfu") or 0.0) * 100
    if band is None or not band[0] <= mfu <= band[1]:
        bad.append(f"{path.name}: MFU {mfu:.1f} % outside the band {band}")
    window = info.get("timed_window") or {}
    print(f"{b['name']:<12} {str(compiled):<8} {str(b.get('device_kind'))[:24]:<24} {m['tokens_per_s']:>10,.0f} "
          f"{mfu:>7.1f} {str(band):>11} {rec['timing']['compile_s']:>9.1f} "
          f"{rec['timing'].get('unstable') or 'stable'}; SM MHz {window.get('sm_clock_start_mhz')}->{window.get('sm_clock_end_mhz')}")
for line in bad:
    print(f"gpu_check: {line}", file=sys.stderr)
sys.exit(1 if bad else 0)
PY
exit $status
