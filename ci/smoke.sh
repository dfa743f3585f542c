#!/usr/bin/env bash
# The CPU smoke job: the smoke suite on every available CPU backend. Records and reports go to $1 when given,
# else to a new results/<run id>/ with results/latest pointing at it (so reruns never mix their records).
set -euo pipefail
if [[ $# -ge 1 ]]; then
  accelbench run --suite smoke --out "$1"
else
  accelbench run --suite smoke
  echo "records and reports in $(readlink -f results/latest 2>/dev/null || cat results/latest)"
fi
