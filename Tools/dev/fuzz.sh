#!/usr/bin/env bash
# Builds the libFuzzer targets (Tools/dev/Fuzz) with AddressSanitizer and runs each for a given time.
#   bash Tools/dev/fuzz.sh [seconds per target, default 600] [targets...]   (default: FuzzPNG FuzzModel FuzzPth)
#   FUZZ_PARALLEL=1 bash Tools/dev/fuzz.sh 600      runs the targets at the same time (one core each)
# Seeds come from Fixtures/ (and Fixtures/bad/); the corpora grow in Tools/work/fuzz/<target>/
# (git-ignored); crashing inputs are written to Tools/work/fuzz/crashes/, the full libFuzzer output to
# Tools/work/fuzz/<target>.log. Prints executions, exec/s, corpus size and coverage per target.
# Coverage (cov/ft) counts edges in CapsKit's own code, which includes the whole HDF5 reader (Swift)
# and zlib's caller; libpng and zlib themselves are the system's uninstrumented libraries, so the
# fuzzer is blind inside them (see docs/RELIABILITY.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzPNG FuzzModel FuzzPth)
bash Tools/user/install-system-packages.sh
# One product at a time: building the whole graph would also build the root package's executables
# with -parse-as-library, which do not link. SwiftPM links each executable with
# --defsym main=<Target>_main; each target defines that symbol and hands over to LLVMFuzzerRunDriver.
for target in "${targets[@]}"; do
  swift build --package-path Tools/dev/Fuzz -c release --scratch-path .build-fuzz --product "$target" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xcc -fsanitize=fuzzer-no-link,address \
    2>&1 | grep -E "error|warning: .*\.swift|Compiling|Build of product" || true
  [ -x ".build-fuzz/release/$target" ] || { echo "build of $target failed" >&2; exit 1; }
done
mkdir -p Tools/work/fuzz/crashes

run_target() {
  local target=$1 corpus=Tools/work/fuzz/$1 log=Tools/work/fuzz/$1.log seed_dir
  mkdir -p "$corpus"
  # Every target runs in the plain mode: one crash, leak, timeout or malloc over 512 MB stops it.
  seed_dir=$(mktemp -d)
  case $target in
    FuzzPNG) cp Fixtures/digits/*.png Fixtures/bad/*.png Fixtures/realworld/*_00[01]_*.png "$seed_dir/" ;;
    FuzzModel)
      # HDF5 seeds under -max_len: the malformed models, the format variants, Keras and tiny models.
      for file in Fixtures/bad/*.h5 Fixtures/hdf5/*.h5 Fixtures/pth/*.h5 Fixtures/layouts/*.h5; do
        [ "$(stat -c %s "$file")" -le 200000 ] && cp "$file" "$seed_dir/"
      done ;;
    FuzzPth)
      # Not small.pth (11 MB) nor gram-ai.pth (1 MB): above -max_len, and slow per execution.
      for file in Fixtures/pth/*.pth Fixtures/layouts/*.pth Fixtures/bad/*.pth; do
        [ -f "$file" ] || continue
        [ "$(stat -c %s "$file")" -le 200000 ] && cp "$file" "$seed_dir/"
      done
      # Pickle bombs under -max_len (issue 12): the unpickler's memory and work budgets.
      python3 Tools/fixtures/make_hostile_inputs.py --fuzz-seeds "$seed_dir" ;;
  esac
  # FuzzPth: a pickle under -max_len has a budget of about 7 MiB of objects and 30 M steps, so one
  # malloc over 128 MB or 3 s on an input means a budget was escaped.
  local malloc_limit=512 timeout=10
  [ "$target" = FuzzPth ] && malloc_limit=128 && timeout=3
  ASAN_OPTIONS="allocator_may_return_null=0" \
    LSAN_OPTIONS="suppressions=$PWD/Tools/dev/Fuzz/lsan.supp:print_suppressions=0" \
    .build-fuzz/release/$target "$corpus" "$seed_dir" -max_total_time="$seconds" -max_len=200000 \
    -rss_limit_mb=2048 -malloc_limit_mb="$malloc_limit" -timeout="$timeout" -artifact_prefix=Tools/work/fuzz/crashes/ \
    -print_final_stats=1 >"$log" 2>&1 || true
  rm -rf "$seed_dir"
  {
    echo "== $target for ${seconds}s (log: $log)"
    grep -E "^#[0-9]+[[:space:]]+(INITED|DONE)|^#[0-9]+: cov|stat::|crash-|INFO: fuzzed for|ERROR|SUMMARY|Test unit written" "$log" || true
    echo "corpus files: $(find "$corpus" -type f | wc -l)"
  }
}

if [ "${FUZZ_PARALLEL:-0}" = 1 ]; then
  for target in "${targets[@]}"; do run_target "$target" >"Tools/work/fuzz/$target.summary" & done
  wait
  for target in "${targets[@]}"; do cat "Tools/work/fuzz/$target.summary"; done
else
  for target in "${targets[@]}"; do run_target "$target"; done
fi
