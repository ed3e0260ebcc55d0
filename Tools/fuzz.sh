#!/usr/bin/env bash
# Builds the libFuzzer targets (Tools/Fuzz) with AddressSanitizer and runs each for a given time.
#   bash Tools/fuzz.sh [seconds per target, default 600] [targets...]
# Seeds come from Fixtures/ (and Fixtures/bad/); the corpora grow in Tools/work/fuzz/<target>/
# (git-ignored); crashing inputs are written to Tools/work/fuzz/crashes/. Prints executions,
# exec/s, corpus size and coverage per target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzPNG FuzzModel)
bash Tools/install-system-packages.sh
swift build --package-path Tools/Fuzz -c release --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xcc -fsanitize=fuzzer-no-link,address
mkdir -p Tools/work/fuzz/crashes
for target in "${targets[@]}"; do
  corpus=Tools/work/fuzz/$target
  mkdir -p "$corpus"
  case $target in
    FuzzPNG) seeds=(Fixtures/digits Fixtures/bad) ;;
    FuzzModel) seeds=(Fixtures/bad) ;;
    *) seeds=() ;;
  esac
  seed_dir=$(mktemp -d)
  for folder in "${seeds[@]}"; do
    for file in "$folder"/*; do
      case $target:$file in FuzzPNG:*.png | FuzzModel:*.h5) cp "$file" "$seed_dir/" ;; esac
    done
  done
  [ "$target" = FuzzModel ] && cp Fixtures/models/small.h5 "$seed_dir/" 2>/dev/null || true
  echo "== $target for ${seconds}s"
  .build-fuzz/release/$target "$corpus" "$seed_dir" -max_total_time="$seconds" -max_len=200000 -rss_limit_mb=2048 \
    -timeout=10 -artifact_prefix=Tools/work/fuzz/crashes/ -print_final_stats=1 2>&1 |
    grep -E "^#[0-9]+ +(INITED|DONE)|stat::|ERROR|SUMMARY" || true
  rm -rf "$seed_dir"
done
