#!/usr/bin/env bash
# The CPU smoke job: the smoke suite on every available CPU backend, records and reports in $1 (default results/smoke).
set -euo pipefail
out=${1:-results/smoke}
accelbench run --suite smoke --out "$out"
