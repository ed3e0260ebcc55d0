#!/usr/bin/env bash
# Runs the Slurm array script and the Kubernetes Indexed Job's command locally, as the schedulers
# would (their index variables set by hand, one task after another, one of them killed and run
# again), then checks the shards with check_rows.py: every manifest path has exactly one row, in
# the right shard, and the merged rows equal a direct run's byte for byte. Seconds (the micro model
# of Fixtures/hdf5); needs python3 and a built capsinfer (CAPSINFER, default .build/debug).
#
#     bash Tools/dev/scale/test_recipes.sh
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
SCALE="$ROOT/Tools/user/scale"
export CAPSINFER="${CAPSINFER:-$ROOT/.build/debug/capsinfer}"
export MODEL="$ROOT/Fixtures/hdf5/model_defaults.h5"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
ls "$ROOT"/Fixtures/digits/*.png > "$WORK/manifest.txt"
export MANIFEST="$WORK/manifest.txt"
fail() { echo "test_recipes: FAILED: $*"; exit 1; }
"$CAPSINFER" --model "$MODEL" --format jsonl --quiet --files-from "$MANIFEST" > "$WORK/direct.jsonl"

# Slurm: tasks 0..2 of --array=0-2; task 1 first killed early (SIGKILL), then requeued.
export OUT="$WORK/slurm"
for task in 0 1 2; do
  env SLURM_ARRAY_TASK_ID=$task SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=2 \
    SLURM_CPUS_PER_TASK=1 bash "$SCALE/capsinfer_array.sbatch" 2>>"$WORK/slurm.log" &
  pid=$!
  if [ $task = 1 ]; then
    sleep 0.3; kill -KILL $pid 2>/dev/null || true; wait $pid || true
    env SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_TASK_COUNT=3 SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=2 \
      bash "$SCALE/capsinfer_array.sbatch" 2>>"$WORK/slurm.log" || fail "Slurm task 1 (requeued)"
  else
    wait $pid || fail "Slurm task $task: $(tail -2 "$WORK/slurm.log")"
  fi
done
# A resubmitted single task (--array=2) with CAPSINFER_SHARDS: nothing left to do.
env SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=1 SLURM_ARRAY_TASK_MIN=2 SLURM_ARRAY_TASK_MAX=2 \
  CAPSINFER_SHARDS=3 bash "$SCALE/capsinfer_array.sbatch" 2>>"$WORK/slurm.log" || fail "Slurm resubmission"
python3 "$SCALE/check_rows.py" --manifest "$MANIFEST" --shards 3 "$OUT"/rows-*.jsonl --merged "$WORK/slurm.jsonl"
cmp -s "$WORK/slurm.jsonl" "$WORK/direct.jsonl" || fail "Slurm rows differ from the direct run's"

# Kubernetes: the container's command from the manifest, with /data mapped to the work folder.
command=$(python3 - "$SCALE/capsinfer-indexed-job.yaml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
block = text.split("args:\n", 1)[1].split("resources:", 1)[0]
lines = [l.strip() for l in block.splitlines() if l.strip() and not l.strip().startswith(("#", "- >-"))]
print(" ".join(lines))
PY
)
completions=$(sed -n 's/^ *completions: *\([0-9]*\).*/\1/p' "$SCALE/capsinfer-indexed-job.yaml")
mkdir -p "$WORK/data"
cp "$MANIFEST" "$WORK/data/manifest.txt"
command=${command//\/data/$WORK/data}
command=${command//capsinfer --files-from/\"\$CAPSINFER\" --model \"\$MODEL\" --files-from}
for index in $(seq 0 $((completions - 1))); do
  JOB_COMPLETION_INDEX=$index sh -c "$command" 2>>"$WORK/k8s.log" || fail "pod $index: $(tail -2 "$WORK/k8s.log")"
done
python3 "$SCALE/check_rows.py" --manifest "$MANIFEST" --shards "$completions" "$WORK"/data/rows/rows-*.jsonl \
  --merged "$WORK/k8s.jsonl"
cmp -s "$WORK/k8s.jsonl" "$WORK/direct.jsonl" || fail "Kubernetes rows differ from the direct run's"
echo "test_recipes: PASSED: Slurm (3 tasks, one killed and requeued) and Kubernetes ($completions pods) rows equal the direct run's"
