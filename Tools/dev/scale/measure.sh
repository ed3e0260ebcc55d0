#!/usr/bin/env bash
# The figures of docs/SCALE.md, on the 20,000-file corpus of make_corpus.py, with the release
# capsinfer and its built-in standard model:
#   1. files/s of one direct run on 2 threads (and its CPU time);
#   2. the same under Spark local[2] (spark_classify.py: 2 tasks of --threads 1), rows checked;
#   3. 3-way and 7-way shards: disjoint, union equal to the direct run's rows (check_rows.py);
#   4. peak RSS at 10^4, 10^5, 10^6 streamed paths (stream_memory.sh, micro model: the memory
#      that could grow with the number of paths does not depend on the model), and with --resume.
#
#     swift build -c release --product capsinfer
#     python3 Tools/user/scale/make_corpus.py Tools/work/corpus20k --mnist MNIST_DIR   # the folder with t10k-images-idx3-ubyte.gz
#     bash Tools/dev/scale/measure.sh [Tools/work/corpus20k] [steps: direct spark shards memory]
#
# Results go to stdout and Tools/work/measure/. Timings depend on the machine's load: run it on a
# quiet machine, and read the CPU times (user + sys) beside the wall times.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
SCALE="$ROOT/Tools/user/scale"
CORPUS="$(cd "${1:-$ROOT/Tools/work/corpus20k}" && pwd)"; shift || true
steps="${*:-direct spark shards memory}"
CAPSINFER="${CAPSINFER:-$ROOT/.build/release/capsinfer}"
OUT="$ROOT/Tools/work/measure"; mkdir -p "$OUT"
MANIFEST="$CORPUS/manifest.txt"
n=$(wc -l < "$MANIFEST")
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores," \
  "flags: $(grep -m1 -o -w -E 'avx512f|avx2|fma' /proc/cpuinfo | sort -u | xargs), load: $(cut -d' ' -f1-3 /proc/loadavg)"
timed() { /usr/bin/time -f "wall %e s, user %U s, sys %S s, peak RSS %M KiB" "$@"; }

if [[ $steps == *direct* ]]; then
  rm -f "$OUT/direct.jsonl"
  timed "$CAPSINFER" --files-from "$MANIFEST" --format jsonl --threads 2 -o "$OUT/direct.jsonl" 2> "$OUT/direct.log" || true
  echo "direct, 2 threads: $(grep 'files classified' "$OUT/direct.log" | sed 's/^capsinfer: //'); $(tail -1 "$OUT/direct.log")"
fi
if [[ $steps == *spark* ]]; then
  VENV="$ROOT/Tools/work/spark-venv"
  if "$VENV/bin/python" -c "import pyspark" 2>/dev/null && command -v java >/dev/null; then
    rm -rf "$OUT/spark"
    PYSPARK_PYTHON="$VENV/bin/python" timed "$VENV/bin/python" "$SCALE/spark_classify.py" "$MANIFEST" "$OUT/spark" \
      --master 'local[2]' --partitions 8 --capsinfer "$CAPSINFER" 2> "$OUT/spark.log" || true
    echo "Spark local[2], 8 partitions: $(grep '^spark_classify:' "$OUT/spark.log" | head -1 | sed 's/; rows in.*//'); whole process: $(tail -1 "$OUT/spark.log")"
    python3 "$SCALE/check_rows.py" --manifest "$MANIFEST" "$OUT/spark" --merged "$OUT/spark.jsonl" | tail -1
    cmp -s "$OUT/spark.jsonl" "$OUT/direct.jsonl" && echo "Spark rows == direct rows (byte for byte, in manifest order)" \
      || echo "Spark rows DIFFER from the direct run's"
  else
    echo "Spark: skipped (run Tools/dev/scale/test_spark.sh first to install pyspark; needs Java 17)"
  fi
fi
if [[ $steps == *shards* ]]; then
  for count in 3 7; do
    rm -f "$OUT"/shard$count-*.jsonl
    start=$(date +%s.%N)
    for k in $(seq 0 $((count - 1))); do
      "$CAPSINFER" --files-from "$MANIFEST" --shard $k/$count --format jsonl --threads 2 --quiet \
        -o "$OUT/shard$count-$k.jsonl" || true
    done
    seconds=$(echo "$(date +%s.%N) - $start" | bc)
    echo "$count-way shards (one after another): $seconds s"
    python3 "$SCALE/check_rows.py" --manifest "$MANIFEST" --shards $count $(for k in $(seq 0 $((count - 1))); do echo "$OUT/shard$count-$k.jsonl"; done) \
      --merged "$OUT/shard$count.jsonl" | sed 's/^/  /'
    cmp -s "$OUT/shard$count.jsonl" "$OUT/direct.jsonl" && echo "  union of the $count shards == direct rows (byte for byte)" \
      || echo "  union of the $count shards DIFFERS from the direct run's"
  done
fi
if [[ $steps == *memory* ]]; then
  echo "peak RSS, paths streamed with --files-from - (cycling the corpus), micro model, 2 threads:"
  bash "$ROOT/Tools/dev/scale/stream_memory.sh" "$MANIFEST" 10000 100000 1000000 -- --model "$ROOT/Fixtures/hdf5/model_defaults.h5" --threads 2 | sed 's/^/  /'
  echo "the same, standard model, 10^4 and 10^5 paths:"
  bash "$ROOT/Tools/dev/scale/stream_memory.sh" "$MANIFEST" 10000 100000 -- --threads 2 | sed 's/^/  /'
  echo "with --resume, a second run over a finished file (reads N rows back), micro model:"
  RESUME=1 bash "$ROOT/Tools/dev/scale/stream_memory.sh" "$MANIFEST" 10000 100000 1000000 -- --model "$ROOT/Fixtures/hdf5/model_defaults.h5" --threads 2 | sed 's/^/  /'
fi
