#!/usr/bin/env bash
# Runs the test suite under AddressSanitizer and ThreadSanitizer, each in its own build folder.
#   bash Tools/dev/sanitize.sh [address|thread ...]   (default: both)
# Prints the build and test durations; the full output is in .build-<sanitizer>/sanitize.log.
# Measured figures and known reports in system libraries: docs/RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
sanitizers=("$@")
[ ${#sanitizers[@]} -gt 0 ] || sanitizers=(address thread)
bash Tools/user/install-system-packages.sh
# Leaks that are not CapsKit's (XCTest, Foundation.Process, libhdf5): Tools/dev/Fuzz/lsan.supp.
export LSAN_OPTIONS="suppressions=$PWD/Tools/dev/Fuzz/lsan.supp:print_suppressions=0"
# HDF5 is read by CapsKit's own parser, which bounds every allocation before making it, so no
# allocation may fail here: an oversized one aborts the run.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}"
export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0:allocator_may_return_null=0}"
# End-to-end accuracy runs that push many images through the standard model in a debug build take
# most of a sanitized run's time and exercise no code the other tests do not (the preprocessing,
# decoding and inference paths are sanitized by the library tests and the fuzzers); the plain run
# of Tools/dev/test.sh runs them.
heavy='everyFixtureDigitMatchesPyTorch|everyKindIsClassifiedAndEveryBlankIsNoDigit|BenchTests|Int8CLITests'
# The CLI suites that run the debug tools on whole models and folders (export round trips through
# every format, the sharded corpus, layout imports, own-model parity, picture sheets, the tools'
# everyday commands) spend most of an ASan run in instrumented Swift that reaches no unsafe code
# the library suites (parsers, runtime, image decoding, exporters) do not. The plain run of
# Tools/dev/test.sh runs them; the ASan lane keeps the tools' hostile-input and interrupt suites,
# and the TSan lane the tools' pipelines and signal handlers.
endToEnd='ExportRoundTripTests|ExportCLITests|CorpusScaleTests|LayoutImportTests|OwnModelParityTests|PictureSheetTests|RealWorldDigitTests|CapsconvTests|CapsinferTests'
# Two library suites re-read whole models many times, which under ASan took 64 s
# (HDF5MutationTests: 20 raw-data mutants of each file, read in full) and 37 s (ModelFileTests'
# round trip of the 33 MB standard model through libhdf5) of the lane's 337 s. They check values,
# not memory safety; the hostile-structure suites (FuzzRegressionTests, HDF5HostileModelTests,
# HostileModelTests, PthSafetyTests) stay in the lane, and the plain run has both.
endToEnd="$endToEnd|HDF5MutationTests|roundTripIsBitExact"
status=0
for sanitizer in "${sanitizers[@]}"; do
  mkdir -p ".build-$sanitizer"
  log=".build-$sanitizer/sanitize.log"
  echo "== swift test --sanitize=$sanitizer (log: $log)"
  start=$(date +%s)
  swift build --build-tests --sanitize="$sanitizer" --scratch-path ".build-$sanitizer" >"$log" 2>&1 || {
    tail -n 30 "$log"; echo "build failed" >&2; exit 1; }
  built=$(date +%s)
  result=0
  skip="$heavy"
  # ThreadSanitizer's runtime intercepts signal dispositions: a tool that ignores SIGXFSZ is still
  # killed by it under TSan (status 153), while the plain and ASan runs check the behaviour.
  [ "$sanitizer" = thread ] && skip="$skip|aFileSizeLimitIsAWriteErrorNotASignal"
  [ "$sanitizer" = address ] && skip="$skip|$endToEnd"
  # ThreadSanitizer looks for data races, so its lane runs the suites whose code has threads: the
  # runtime (worker pool, shared pools, split batches, int8), and the tools' pipelines and signal
  # handlers; the parsers, the image code and the exporters run on one thread and are covered by
  # the plain and ASan lanes. This keeps CI near its 20 minutes.
  only=()
  [ "$sanitizer" = thread ] && only=(--filter 'CapsRuntimeTests\.|CapsinferTests|CorpusScaleTests|HostileFileTests|InterruptedImportTests|ConcurrencyTests')
  swift test --skip-build --sanitize="$sanitizer" --scratch-path ".build-$sanitizer" "${only[@]}" --skip "$skip" \
    >>"$log" 2>&1 || result=$?
  done_at=$(date +%s)
  reports=$(grep -cE "^(==[0-9]+==ERROR|WARNING: ThreadSanitizer|SUMMARY: (Address|Thread|Leak)Sanitizer)" "$log" || true)
  grep -E "^(Test Suite 'All tests'|Executed|✔ Test run|✘ Test run|􁁛  Test run|􀢄  Test run)|Test run with|SUMMARY: " "$log" | tail -n 6 || true
  echo "$sanitizer: build $((built - start)) s, tests $((done_at - built)) s, exit $result, sanitizer reports: $reports"
  [ "$result" -eq 0 ] && [ "$reports" -eq 0 ] || status=1
done
exit $status
