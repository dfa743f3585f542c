#!/usr/bin/env bash
# The PyTorch/XLA tier: the `xla`-marked tests (every kernel's tiny preset on torch-xla, PJRT on the CPU)
# in their own virtual environment, because torch-xla needs the torch of its own minor version
# (torch 2.9.1 + torch-xla 2.9.0, the only pairing on the registry) and the main environment has torch 2.13.
#
#   bash ci/xla_tier.sh                                    # venv in .venv-xla (created on first use, ~7 GB)
#   ACCELBENCH_XLA_VENV=/opt/xla-venv bash ci/xla_tier.sh  # reuse an existing venv
#
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1
venv=${ACCELBENCH_XLA_VENV:-.venv-xla}
start=$(date +%s)
export PJRT_DEVICE=CPU

if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
py="$venv/bin/python"
# Install only what is missing, so a reused venv costs seconds.
if ! "$py" -c "import torch, torch_xla, sys; sys.exit(0 if (torch.__version__.startswith('2.9.1') and torch_xla.__version__.startswith('2.9.0')) else 1)" 2>/dev/null; then
    "$py" -m pip install -q torch==2.9.1 torch-xla==2.9.0
fi
if ! "$py" -c "import numpy, pandas, pytest, pytest_timeout, pytest_benchmark" 2>/dev/null; then
    "$py" -m pip install -q numpy pandas pytest pytest-timeout pytest-benchmark
fi
"$py" -m pip install -q -e .
echo "== xla tier: $("$py" -c 'import torch, torch_xla; print("torch", torch.__version__, "torch-xla", torch_xla.__version__)') in $venv (setup $(( $(date +%s) - start )) s)"

t0=$(date +%s)
"$py" -m pytest -m xla tests/backends/test_torch_xla.py -p no:cacheprovider "$@"
echo "== xla tier: tests took $(( $(date +%s) - t0 )) s, $(( $(date +%s) - start )) s in all"
