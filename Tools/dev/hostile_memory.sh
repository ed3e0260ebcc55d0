#!/usr/bin/env bash
# Peak memory, time and exit status of the release tools on issue 12's memory, budget and number
# classes (the inputs of Tools/fixtures/make_hostile_inputs.py), and capsinfer's peak RSS for one digit at
# 1, 2, 8, 16 and 64 threads; a Markdown table for docs/RELIABILITY.md.
#   python3 Tools/fixtures/make_hostile_inputs.py && bash Tools/dev/hostile_memory.sh
#   BIN=/path/to/other/release bash Tools/dev/hostile_memory.sh      (e.g. an older build, to compare)
# Each run is limited to TIMEOUT seconds (default 60) and LIMIT_KB of address space (default 8 GiB),
# so that the unbounded behaviour of an older build cannot take the machine down.
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${BIN:-.build/release}
dir=Tools/work/hostile
[ -d "$dir" ] || { echo "run python3 Tools/fixtures/make_hostile_inputs.py first" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
  swift build -c release --product capsconv >/dev/null && swift build -c release --product capsinfer >/dev/null
fi
timeout_s=${TIMEOUT:-60}
limit_kb=${LIMIT_KB:-8388608}
digit=Fixtures/digits/d8000_gray8.png
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

measure() {  # label, tool, arguments...
  local label=$1 tool=$2
  shift 2
  (ulimit -v "$limit_kb"; /usr/bin/time -v -o "$out/time" timeout "$timeout_s" "$bin/$tool" "$@" \
    >"$out/stdout" 2>"$out/stderr")
  local status=$?
  local rss wall signal message
  rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); printf "%.1f", $2 / 1024}' "$out/time")
  wall=$(awk '/Elapsed \(wall clock\)/ {print $NF}' "$out/time")
  signal=$(awk '/Command terminated by signal/ {print "signal " $NF}' "$out/time")
  [ "$status" = 124 ] && signal="timeout ${timeout_s} s"
  [ "$status" -gt 128 ] && [ "$status" != 255 ] && [ -z "$signal" ] && signal="signal $((status - 128))"
  message=$(grep -v '^\s*$' "$out/stderr" | head -1 | cut -c1-150 | sed 's/|/\\|/g')
  [ -z "$message" ] && message=$(grep -m1 -E 'wrote|FAIL|PASS|,' "$out/stdout" | cut -c1-150 | sed 's/|/\\|/g')
  printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$tool" "${signal:-$status}" "$rss" "$wall" "$message"
}

rm -f "$out"/*.caps.h5
echo "| input | tool | exit | max RSS (MB) | wall | first line of stderr (or stdout) |"
echo "| --- | --- | --- | --- | --- | --- |"
for threads in 1 2 8 16 64; do
  measure "one digit, --threads $threads" capsinfer --threads "$threads" "$digit"
done
measure "input_size 2^40" capsconv import "$dir/input_size_2p40.h5" -o "$out/a.caps.h5"
measure "input_size INT64_MIN" capsinfer --model "$dir/input_size_int64min.h5" "$digit"
measure "reference of 100,000 images" capsconv verify Fixtures/models/standard.h5 --reference "$dir/reference_100k.h5"
measure "1x1 kernels, input 8192" capsinfer --model "$dir/kernel1_input8192.h5" "$digit"
measure "gram-ai + 2^28 extra (HDF5)" capsconv import "$dir/gramai_extra.h5" -o "$out/b.caps.h5"
measure "Keras + 2^28 dense layer" capsconv import "$dir/keras_extra.h5" -o "$out/c.caps.h5"
measure "gram-ai .pth, stride-0 2^28 view" capsconv import "$dir/gramai_stride0.pth" -o "$out/d.caps.h5"
for bomb in tuple1 empty_list codecs ordereddict setitem; do
  measure "pickle bomb: $bomb" capsconv import "$dir/bomb_$bomb.pth" -o "$out/e.caps.h5"
done
measure "--normalize 0,1e-45" capsconv import Fixtures/pth/tiny.h5 --normalize 0,1e-45 -o "$out/f.caps.h5"
measure "metadata std 1e-300" capsinfer --model "$dir/std_1e-300.h5" "$digit"
measure "metadata mean 1e300" capsinfer --model "$dir/mean_1e300.h5" "$digit"
measure "weights 1e30" capsinfer --model "$dir/weights_1e30.h5" --format csv "$digit"
labels=$(seq -s, -f 'class %g' 0 4999)
measure "5,000 classes" capsconv import "$dir/classes_5000.h5" --labels "$labels" -o "$out/g.caps.h5"
measure "8 GiB sparse tail" capsconv import "$dir/sparse_tail.h5" -o "$out/h.caps.h5"
measure "duplicate labels" capsconv import Fixtures/pth/tiny.h5 --labels 0,1,2,0 -o "$out/i.caps.h5"
