#!/usr/bin/env bash
# Copy this instance's results into the mounted bucket (if any) and print
# where they are. Records are written on local disk first (atomic renames);
# the bucket gets finished files only.
#
#   ci/cloud/collect_results.sh [BUCKET_MOUNT]    (default /accelbench-results)
set -euo pipefail
results=${RESULTS_DIR:-$HOME/accelbench-results}
mount=${1:-/accelbench-results}
mkdir -p "$results"
if [ -d "$mount" ] && [ -w "$mount" ]; then
  cp -r "$results/." "$mount/"
  echo "results copied to the bucket mounted at $mount"
fi
echo "results on this instance: $results (fetch with: rsync -Pavz CLUSTER:$results/ results/)"
