#!/usr/bin/env bash
# Tests spark_classify.py in Spark local mode (local[2]): its rows, merged, must equal a direct
# capsinfer run's over the same manifest (the ~100 fixture digits and one broken file), and
# check_rows.py must accept them. Not part of Tools/test.sh: the first run downloads pyspark
# (~300 MB, into Tools/work/spark-venv) and a Spark start takes 10-30 s.
#
#     bash Tools/dev/scale/test_spark.sh            # exit 0: passed or skipped (says which)
#
# Needs Java 17 (java on PATH; installed with apt-get when absent and permitted) and pyspark from
# PyPI; when either cannot be had, the test is skipped with a message (exit 0). Uses the debug
# capsinfer (built if needed) and the micro model of Fixtures/hdf5 so that it runs in seconds.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "$ROOT"
skip() { echo "test_spark: SKIPPED: $*"; exit 0; }

if ! command -v java >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get install -y -q openjdk-17-jre-headless >/dev/null 2>&1 || skip "no Java and apt-get could not install openjdk-17-jre-headless"
  else
    skip "no Java 17 (apt-get install openjdk-17-jre-headless)"
  fi
fi
java -version 2>&1 | grep -q 'version "\(17\|21\)' || echo "test_spark: note: $(java -version 2>&1 | head -1) (tested with 17)"

VENV="$ROOT/Tools/work/spark-venv"
if ! "$VENV/bin/python" -c "import pyspark" >/dev/null 2>&1; then
  python3 -m venv "$VENV" >/dev/null 2>&1 || skip "python3 -m venv failed"
  "$VENV/bin/pip" install -q pyspark >/dev/null 2>&1 || skip "pip install pyspark failed (no network to PyPI?)"
fi
PY="$VENV/bin/python"

CAPSINFER="${CAPSINFER:-$ROOT/.build/debug/capsinfer}"
[ -x "$CAPSINFER" ] || swift build --product capsinfer >/dev/null
MODEL="$ROOT/Fixtures/hdf5/model_defaults.h5"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
{ ls "$ROOT"/Fixtures/digits/*.png; echo "$ROOT/Fixtures/bad/not_png.png"; } > "$WORK/manifest.txt"
inputs=$(wc -l < "$WORK/manifest.txt")

# The direct run: exit 1 because of the broken file, one row per path.
"$CAPSINFER" --model "$MODEL" --format jsonl --quiet --files-from "$WORK/manifest.txt" > "$WORK/direct.jsonl" 2>/dev/null || true
[ "$(wc -l < "$WORK/direct.jsonl")" -eq "$inputs" ] || { echo "test_spark: FAILED: the direct run gave $(wc -l < "$WORK/direct.jsonl") rows for $inputs paths"; exit 1; }

export PYSPARK_PYTHON="$PY"
"$PY" "$ROOT/Tools/user/scale/spark_classify.py" "$WORK/manifest.txt" "$WORK/spark" --master 'local[2]' \
  --partitions 4 --capsinfer "$CAPSINFER" -- --model "$MODEL" 2> "$WORK/spark.log" \
  || { tail -20 "$WORK/spark.log"; echo "test_spark: FAILED: spark_classify.py exited non-zero"; exit 1; }
grep '^spark_classify:' "$WORK/spark.log"
parts=$(ls "$WORK"/spark/part-* | wc -l)
[ "$parts" -ge 2 ] || { echo "test_spark: FAILED: $parts part files, expected one per partition"; exit 1; }

"$PY" "$ROOT/Tools/user/scale/check_rows.py" --manifest "$WORK/manifest.txt" "$WORK/spark" --merged "$WORK/merged.jsonl"
if cmp -s "$WORK/merged.jsonl" "$WORK/direct.jsonl"; then
  echo "test_spark: PASSED: $inputs rows from $parts Spark partitions equal the direct run's, byte for byte"
else
  diff <(sort "$WORK/merged.jsonl") <(sort "$WORK/direct.jsonl") | head -5
  echo "test_spark: FAILED: Spark's rows differ from the direct run's"
  exit 1
fi
