#!/usr/bin/env bash
# Make one virtual environment for accelbench and an ML stack on a cloud instance.
#
#   [STACK=NAME] ci/cloud/setup_venv.sh VENV [PIP ARGUMENTS FOR THE STACK...]
#
# STACK names an entry of facts/data/stacks.toml (the Neuron stacks): the
# installed packages are then checked against its pins, and a mismatch fails
# the setup before an expensive instance runs anything.
#
# Run from the accelbench checkout (SkyPilot's workdir, ~/sky_workdir). The
# stack is installed first, then accelbench (editable, no dependency changes
# to the stack). Python comes from uv, so the image's own Python (3.10 on
# SkyPilot's default images) does not matter; PYTHON_VERSION picks it (3.12).
set -euo pipefail
venv=$1; shift
python_version=${PYTHON_VERSION:-3.12}
if ! command -v uv >/dev/null 2>&1; then
  python3 -m pip install --quiet --user uv || pip install --quiet uv
  export PATH="$HOME/.local/bin:$PATH"
fi
uv venv --seed --python "$python_version" "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
if [ "$#" -gt 0 ]; then
  "$venv/bin/python" -m pip install "$@"
fi
"$venv/bin/python" -m pip install -e .
if [ -n "${STACK:-}" ]; then
  "$venv/bin/python" -m accelbench.facts.stacks check "$STACK"
fi
"$venv/bin/accelbench" backends
