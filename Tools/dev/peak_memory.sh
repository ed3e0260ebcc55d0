#!/usr/bin/env bash
# Peak memory (maximum resident set size, /usr/bin/time -v) of the release tools on every bad input
# in Fixtures, one file per run, as a Markdown table for docs/RELIABILITY.md.
#   bash Tools/dev/peak_memory.sh            (builds the release tools first)
#   bash Tools/dev/peak_memory.sh DIR        also runs `capsconv import` on every file in DIR (e.g. the
#                                        FuzzModel corpus, Tools/work/fuzz/FuzzModel) and prints the
#                                        worst RSS, the slowest file and any run ended by a signal
# HDF5 and .pth files go through `capsconv import`, PNGs through `capsinfer --model small.h5`
# (the model alone costs about 60 MB), each beside a good input of the same kind as a baseline.
set -euo pipefail
cd "$(dirname "$0")/../.."
swift build -c release --product capsconv >/dev/null
swift build -c release --product capsinfer >/dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
measure() {  # label, command...
  local label=$1
  shift
  local status=0
  /usr/bin/time -v "$@" >/dev/null 2>"$out/time" || status=$?
  local rss
  rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$out/time")
  local signal
  signal=$(awk -F: '/Command terminated by signal/ {print "signal" $2}' "$out/time")
  printf '| %s | %s | %s | %s |\n' "$label" "$(basename "$1")" "$(awk -v kb="$rss" 'BEGIN {printf "%.1f", kb / 1024}')" \
    "${signal:-$status}"
}
echo "| input | tool | max RSS (MB) | exit |"
echo "| --- | --- | --- | --- |"
for file in Fixtures/bad/*.h5 Fixtures/hdf5/unsupported.h5 Fixtures/pth/hostile_*.pth Fixtures/pth/lying_size.pth \
  Fixtures/pth/size_mismatch.pth Fixtures/pth/traversal.pth Fixtures/pth/deflated.pth; do
  [ -f "$file" ] || continue
  measure "${file#Fixtures/}" .build/release/capsconv import "$file" -o "$out/out.h5" --force
done
measure "baseline: models/small.h5" .build/release/capsconv import Fixtures/models/small.h5 -o "$out/out.h5" --force
measure "baseline: pth/small.pth" .build/release/capsconv import Fixtures/pth/small.pth -o "$out/out.h5" --force
for file in Fixtures/bad/*.png; do
  measure "${file#Fixtures/}" .build/release/capsinfer --model Fixtures/models/small.h5 "$file"
done
measure "baseline: digits/d8000_gray8.png" .build/release/capsinfer --model Fixtures/models/small.h5 \
  Fixtures/digits/d8000_gray8.png

if [ $# -gt 0 ]; then
  worst=0 worst_file="" slowest=0 slowest_file="" failed=0 passed=0 count=0
  for file in "$1"/*; do
    start=$(date +%s%N)
    status=0
    /usr/bin/time -f "%M" -o "$out/time" .build/release/capsconv import "$file" -o "$out/out.h5" --force \
      >/dev/null 2>"$out/stderr" || status=$?
    ms=$((($(date +%s%N) - start) / 1000000))
    rss=$(tail -n 1 "$out/time")
    count=$((count + 1))
    if [ "$status" -gt 1 ]; then echo "exit $status: $file ($(head -c 200 "$out/stderr"))"; fi
    if [ "$status" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
    if [ "$rss" -gt "$worst" ]; then worst=$rss worst_file=$file; fi
    if [ "$ms" -gt "$slowest" ]; then slowest=$ms slowest_file=$file; fi
  done
  echo "$1: $count files, $passed read, $failed refused; worst RSS $(awk -v kb="$worst" 'BEGIN {printf "%.1f", kb / 1024}') MB ($worst_file), slowest $slowest ms ($slowest_file)"
fi
