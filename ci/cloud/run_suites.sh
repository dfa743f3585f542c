#!/usr/bin/env bash
# Run accelbench suites with the backends of one virtual environment, each
# record copied to the bucket as soon as its case finishes, so that a lost or
# preempted instance loses at most the case it was running.
#
#   ci/cloud/run_suites.sh VENV BACKEND [BACKEND...]
#
# Environment:
#   SUITES          suites to run (default "gpt2 llama"; the whole-instance ones: whole-p5 ...)
#   RUN_NAME        a folder name for this instance (required)
#   RESULTS_DIR     local results (default ~/accelbench-results); each suite × backend gets
#                   RESULTS_DIR/RUN_NAME/SUITE/BACKEND
#   BUCKET_DIR      the mounted bucket (e.g. /accelbench-results; empty: local only). Before a
#                   suite runs, what the bucket holds for it is copied in, and the run resumes
#                   (`accelbench run --resume`: cases with an ok record are not run again);
#                   after each case (`case_done` in --progress jsonl) its record is copied out.
#                   A record is written locally first (atomically) and copied whole: object-store
#                   mounts upload a file on close() and do not support renames or appends well
#                   (SkyPilot "Cloud Object Storage", MOUNT mode).
#   INSTANCE        the price-list name (`accelbench prices`), or
#   USD_PER_HOUR    the WHOLE instance's price per hour (a run is charged for the chips it used)
#   NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT
#                   a multi-node run (ci/cloud/*-multinode.yaml sets them from SkyPilot's
#                   SKYPILOT_NUM_NODES, SKYPILOT_NODE_RANK, SKYPILOT_NODE_IPS); only node 0
#                   copies records to the bucket (the others' records say node 0 writes).
#   ACCELBENCH_ARGS more options for `accelbench run`, e.g. "--steps 5"
# A failed case does not stop the others: its record says why; the status is 1 if any failed.
set -uo pipefail
venv=$1; shift
results=${RESULTS_DIR:-$HOME/accelbench-results}/${RUN_NAME:?set RUN_NAME}
bucket=${BUCKET_DIR:-}
node_rank=${NODE_RANK:-0}
status=0
mkdir -p "$results"
"$venv/bin/accelbench" env --json > "$results/env-$(basename "$venv").json" || true

layout=()
if [ "${NNODES:-1}" -gt 1 ]; then
  layout=(--nnodes "$NNODES" --node-rank "$node_rank" --master-addr "${MASTER_ADDR:?set MASTER_ADDR}"
          --master-port "${MASTER_PORT:-29500}")
fi

# pull BUCKET_FOLDER LOCAL_FOLDER: what a lost instance left in the bucket (never overwriting here).
pull() {
  [ -n "$bucket" ] && [ -d "$1" ] || return 0
  mkdir -p "$2"
  for f in "$1"/*.json; do
    [ -e "$f" ] && cp -n "$f" "$2/"
  done
  return 0
}

# push_each_case LOCAL_FOLDER BUCKET_FOLDER: read --progress jsonl events on stdin, echo them,
# and copy the plan at the first case and each finished case's record to the bucket.
push_each_case() {
  local line record
  while IFS= read -r line; do
    printf '%s\n' "$line" >&2
    if [ -z "$2" ] || [ "$node_rank" != 0 ]; then
      continue
    fi
    case $line in
      *'"event": "case_start"'*)
        if mkdir -p "$2"; then cp "$1/plan.json" "$2/"; fi ;;
      *'"event": "case_done"'*)
        record=${line#*\"record\": \"}
        record=${record%%\"*}
        if [ -f "$record" ]; then cp "$record" "$2/"; fi ;;
    esac
  done
}

for suite in ${SUITES:-gpt2 llama}; do
  for backend in "$@"; do
    out=$results/$suite/$backend
    mirror=${bucket:+$bucket/$RUN_NAME/$suite/$backend}
    pull "$mirror" "$out"
    resume=()
    [ -f "$out/plan.json" ] && resume=(--resume)
    # stdout and stderr swapped: the progress events (stderr) go through the pipe to the pusher.
    # shellcheck disable=SC2086  # ACCELBENCH_ARGS is a list of options
    "$venv/bin/accelbench" run --suite "$suite" --backend "$backend" --out "$out" "${resume[@]}" "${layout[@]}" \
      ${INSTANCE:+--instance "$INSTANCE"} ${USD_PER_HOUR:+--usd-per-hour "$USD_PER_HOUR"} \
      --progress jsonl ${ACCELBENCH_ARGS:-} 3>&1 1>&2 2>&3 | push_each_case "$out" "$mirror" || status=1
  done
done
exit $status
