"""Classify a corpus with capsinfer on Spark: the manifest's paths are split into partitions and each
partition is piped through one `capsinfer --format jsonl -` process (RDD.pipe: paths in on stdin,
one JSON row per line out), and the rows are saved as Spark text files.

    python3 Tools/user/scale/spark_classify.py MANIFEST OUTDIR [--master local[2]] [--partitions P]
        [--capsinfer PATH] [-- CAPSINFER-OPTIONS...]
    spark-submit --master yarn Tools/user/scale/spark_classify.py MANIFEST OUTDIR ...

MANIFEST: one path per line, readable by every executor (a shared file system), as is every path
in it and the capsinfer binary (installed with its built-in model, or give --model after `--`).
OUTDIR: Spark's output directory (part-00000 ...), which must not exist; merge and check it with
    python3 Tools/user/scale/check_rows.py --manifest MANIFEST OUTDIR --merged rows.jsonl
Options after `--` go to capsinfer (default: --threads 1, one inference thread per Spark task:
Spark runs one task per core). capsinfer runs with --quiet; its per-file error lines go to the
executors' stderr logs, and every input still gets a row (an "error" row when it failed).

The driver then counts the rows: fewer rows than manifest lines means a capsinfer process failed
as a whole (model not found, killed), and the script exits 1 naming the numbers. Paths are read as
UTF-8 (Spark text files); for file names that are not UTF-8 use the Slurm or Kubernetes recipes.
"""

import argparse
import os
import shlex
import sys
import time


def main():
    argv = sys.argv[1:]
    passthrough = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("manifest")
    ap.add_argument("outdir")
    ap.add_argument("--master", help="Spark master (default: spark-submit's, else local[2])")
    ap.add_argument("--partitions", type=int, help="partitions of the manifest (default: 2 per core)")
    ap.add_argument("--capsinfer", default="capsinfer", help="the capsinfer executable (default: on PATH)")
    args = ap.parse_args(argv)

    from pyspark.sql import SparkSession  # imported late so that --help works without pyspark

    builder = (SparkSession.builder.appName("capsinfer")
               .config("spark.ui.showConsoleProgress", "false").config("spark.ui.enabled", "false"))
    if args.master:
        builder = builder.master(args.master)
    elif "spark.master" not in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
        builder = builder.master(os.environ.get("SPARK_MASTER", "local[2]"))
    spark = builder.getOrCreate()
    sc = spark.sparkContext
    sc.setLogLevel("WARN")

    partitions = args.partitions or 2 * sc.defaultParallelism
    options = passthrough if any(o.startswith("--threads") for o in passthrough) else ["--threads", "1"] + passthrough
    command = [os.path.abspath(args.capsinfer) if os.sep in args.capsinfer else args.capsinfer,
               "--format", "jsonl", "--quiet"] + options + ["-"]

    start = time.monotonic()
    paths = sc.textFile(args.manifest, minPartitions=partitions).filter(lambda line: line.strip() != "")
    inputs = paths.count()
    # checkCode=False: capsinfer exits 1 when some file failed, which its error rows already say;
    # a process that failed as a whole is caught by the row count below.
    rows = paths.pipe(shlex.join(command), checkCode=False)
    rows.saveAsTextFile(args.outdir)
    seconds = time.monotonic() - start
    written = sc.textFile(args.outdir)
    count = written.count()
    errors = written.filter(lambda row: '"error":' in row).count()
    spark.stop()
    print(f"spark_classify: {count} rows for {inputs} paths ({errors} error rows) in {seconds:.1f} s "
          f"({inputs / seconds:.1f} files/s) on {partitions} partitions; rows in {args.outdir}",
          file=sys.stderr)
    if count != inputs:
        print(f"spark_classify: {inputs - count} paths have no row: a capsinfer process failed; "
              "see the executors' stderr", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
