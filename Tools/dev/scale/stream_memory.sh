#!/usr/bin/env bash
# Peak RSS of capsinfer against the number of paths streamed to it (--files-from -), to show that
# memory does not grow with the number of inputs. The paths cycle through a manifest of real files
# (e.g. the 20,000-file corpus of make_corpus.py), generated on the fly, never stored.
#
#     bash Tools/dev/scale/stream_memory.sh MANIFEST [COUNT...] [-- CAPSINFER-OPTIONS...]
#     bash Tools/dev/scale/stream_memory.sh Tools/work/corpus20k/manifest.txt 10000 100000 1000000 \
#         -- --model Fixtures/hdf5/model_defaults.h5 --threads 2
#
# CAPSINFER (default .build/release/capsinfer). Prints one line per count: paths, rows, peak RSS
# (KiB, GNU time's %M), wall and CPU seconds. Rows go to /dev/null (JSON lines); with RESUME=1 they
# go to a --resume file instead (its rows are then read back by a second, empty run, whose RSS
# includes the 20 bytes per row of the resume keys).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../../.." && pwd)"
CAPSINFER="${CAPSINFER:-$ROOT/.build/release/capsinfer}"
manifest="$1"; shift
counts=(); options=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do counts+=("$1"); shift; done
[ "${1:-}" = "--" ] && { shift; options=("$@"); }
[ ${#counts[@]} -gt 0 ] || counts=(10000 100000 1000000)
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
echo "paths rows peak_rss_kib wall_s user_s sys_s"
for n in "${counts[@]}"; do
  paths() { python3 -c '
import itertools, sys
lines = [l for l in open(sys.argv[1], "rb").read().split(b"\n") if l]
out = sys.stdout.buffer
for line in itertools.islice(itertools.cycle(lines), int(sys.argv[2])):
    out.write(line + b"\n")' "$manifest" "$n"; }
  if [ "${RESUME:-0}" = 1 ]; then
    rm -f "$work/rows.jsonl"
    paths | "$CAPSINFER" --files-from - --format jsonl --quiet -o "$work/rows.jsonl" --resume "${options[@]}" 2>/dev/null || true
    rows=$(wc -l < "$work/rows.jsonl")
    paths | /usr/bin/time -f "%M %e %U %S" -o "$work/time" \
      "$CAPSINFER" --files-from - --format jsonl --quiet -o "$work/rows.jsonl" --resume "${options[@]}" 2>/dev/null || true
  else
    paths | /usr/bin/time -f "%M %e %U %S" -o "$work/time" \
      "$CAPSINFER" --files-from - --format jsonl --quiet "${options[@]}" 2>/dev/null > "$work/rows.jsonl" || true
    rows=$(wc -l < "$work/rows.jsonl")
  fi
  echo "$n $rows $(tail -1 "$work/time")"
done
