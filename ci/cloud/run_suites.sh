#!/usr/bin/env bash
# Run accelbench suites with the backends of one virtual environment.
#
#   ci/cloud/run_suites.sh VENV BACKEND [BACKEND...]
#
# Environment: SUITES (default "gpt2 llama"), RUN_NAME (a folder name for this
# instance), INSTANCE (the price-list name, see `accelbench prices`) or
# USD_PER_HOUR (the whole instance's price, where the list has none),
# RESULTS_DIR (default ~/accelbench-results), ACCELBENCH_ARGS (more options
# for `accelbench run`, e.g. "--steps 5"). Each suite × backend gets its own
# folder RESULTS_DIR/RUN_NAME/SUITE/BACKEND. A failed case does not stop the
# others: its record says why; this script's status is 1 if any case failed.
set -uo pipefail
venv=$1; shift
results=${RESULTS_DIR:-$HOME/accelbench-results}/${RUN_NAME:?set RUN_NAME}
status=0
mkdir -p "$results"
"$venv/bin/accelbench" env --json > "$results/env-$(basename "$venv").json" || true
for suite in ${SUITES:-gpt2 llama}; do
  for backend in "$@"; do
    # shellcheck disable=SC2086  # ACCELBENCH_ARGS is a list of options
    "$venv/bin/accelbench" run --suite "$suite" --backend "$backend" --out "$results/$suite/$backend" \
      ${INSTANCE:+--instance "$INSTANCE"} ${USD_PER_HOUR:+--usd-per-hour "$USD_PER_HOUR"} --progress plain ${ACCELBENCH_ARGS:-} || status=1
  done
done
exit $status
