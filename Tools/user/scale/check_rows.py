"""Check and merge capsinfer outputs (shards, resumed runs): one command after a Spark, Slurm or
Kubernetes run. Standard library only.

    python3 Tools/user/scale/check_rows.py --manifest LIST [--shards N] OUT... [--merged FILE]

OUT are CSV or JSON-lines files written by capsinfer (`--format csv|jsonl`, any mix of the same
format), or directories of them (Spark's part-* files). Checked:
- every row is complete (no torn last line) and is a capsinfer row (JSON: an object with "file";
  CSV: capsinfer's header, identical in every file);
- with --shards N, the OUT files are shards 0..N-1 in that order (give them sorted: rows-0000 ...)
  and every row of file K has FNV-1a-64(path bytes) mod N == K (capsinfer's --shard rule);
- the rows, all files together, are exactly the manifest's paths: none missing, none extra, no
  duplicate (a path listed twice in the manifest must have two rows).
Prints rows, error rows and per-file counts; exit 0 when everything holds, 1 otherwise.
--merged FILE writes all rows in manifest order (CSV: one header), e.g. to compare with an
unsharded run byte for byte; it holds one row per distinct path in memory.

FNV-1a 64, as capsinfer computes it:
    h = 0xcbf29ce484222325
    for b in path_bytes: h = ((h ^ b) * 0x100000001b3) % 2**64
"""

import argparse
import collections
import csv
import io
import json
import os
import sys


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def files_of(target):
    if os.path.isdir(target):
        return sorted(os.path.join(target, n) for n in os.listdir(target)
                      if n.startswith("part-") and not n.endswith(".crc"))
    return [target]


def read_rows(path, problems):
    """[(path bytes, row text, is_error)] and the CSV header (or None)."""
    data = open(path, "rb").read()
    if data and not data.endswith(b"\n"):
        problems.append(f"{path}: the last row is torn (no line break at the end)")
    text = data.decode("utf-8", "surrogateescape")
    rows, header = [], None
    if text.startswith("file,"):
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(reader)
        for n, fields in enumerate(reader, 2):
            if len(fields) != len(header):
                problems.append(f"{path} row {n}: {len(fields)} fields, the header has {len(header)}")
                continue
            out = io.StringIO()
            csv.writer(out, lineterminator="\n").writerow(fields)
            rows.append((os.fsencode(fields[0]), out.getvalue(), fields[-1] != ""))
    else:
        for n, line in enumerate(text.splitlines(keepends=True), 1):
            try:
                row = json.loads(line)
                file = row["file"]
            except (ValueError, KeyError, TypeError):
                problems.append(f"{path} line {n}: not a capsinfer JSON row")
                continue
            rows.append((os.fsencode(file), line if line.endswith("\n") else line + "\n", "error" in row))
    return rows, header


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outputs", nargs="+")
    ap.add_argument("--manifest", required=True, help="the paths classified, one per line")
    ap.add_argument("--shards", type=int, help="the OUT files are shards 0..N-1, in order")
    ap.add_argument("--merged", help="write every row in manifest order to this file")
    args = ap.parse_args()

    with open(args.manifest, "rb") as f:
        expected = [line.rstrip(b"\n").rstrip(b"\r") for line in f]
    expected = [p for p in expected if p]
    want = collections.Counter(expected)

    problems, headers = [], set()
    got = collections.Counter()
    by_path = {}
    errors = 0
    groups = [files_of(o) for o in args.outputs]
    if args.shards is not None and len(groups) != args.shards:
        sys.exit(f"--shards {args.shards} needs {args.shards} outputs, got {len(groups)}")
    for index, files in enumerate(groups):
        count = 0
        for path in files:
            rows, header = read_rows(path, problems)
            if header is not None:
                headers.add(tuple(header))
            for file, row, failed in rows:
                if args.shards is not None and fnv1a64(file) % args.shards != index:
                    problems.append(f"{path}: {os.fsdecode(file)} belongs to shard "
                                    f"{fnv1a64(file) % args.shards}, not {index}")
                got[file] += 1
                by_path.setdefault(file, []).append(row)
                errors += failed
                count += 1
        print(f"{args.outputs[index]}: {count} rows")
    if len(headers) > 1:
        problems.append(f"{len(headers)} different CSV headers")
    missing = want - got
    extra = got - want
    if missing:
        problems.append(f"{sum(missing.values())} manifest paths have no row, e.g. {os.fsdecode(next(iter(missing)))}")
    if extra:
        problems.append(f"{sum(extra.values())} rows are duplicates or not in the manifest, "
                        f"e.g. {os.fsdecode(next(iter(extra)))}")
    total = sum(got.values())
    print(f"{total} rows for {len(expected)} manifest paths; {errors} error rows")
    if args.merged:
        with open(args.merged, "w", encoding="utf-8", errors="surrogateescape", newline="") as out:
            if headers:
                out.write(",".join(next(iter(headers))) + "\n")
            taken = collections.Counter()
            for p in expected:
                rows = by_path.get(p, [])
                if taken[p] < len(rows):
                    out.write(rows[taken[p]])
                    taken[p] += 1
        print(f"merged rows in manifest order: {args.merged}")
    for p in problems[:20]:
        print("PROBLEM:", p)
    if len(problems) > 20:
        print(f"... and {len(problems) - 20} more problems")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
