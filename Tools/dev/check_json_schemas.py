#!/usr/bin/env python3
"""Validates the real JSON output of the tools against the JSON Schemas in docs/schemas/.

    python3 Tools/dev/check_json_schemas.py [--bin .build/debug]

Runs the built capsconv on fixtures (inspect of a plain state_dict, of an imported model file and
of a model with NaN weights; verify passing and failing; bench on built-in digits and on a
reference; capsinfer --format jsonl on digits and a bad file, once its rows carry class_index) and
validates each document with the `jsonschema` package (Draft 2020-12, an
independent implementation). Each schema must also reject altered copies of the real output: a
required key removed, an unknown key added, a key renamed to camelCase, and a value of the wrong
type; and every key in the output must be snake_case. Prints one line per check and
'N passed, N failed'; exits 1 on any failure.
"""

import argparse
import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import jsonschema

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "docs" / "schemas"
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def run(binary, arguments, expect_status):
    result = subprocess.run([str(binary)] + arguments, capture_output=True, text=True, cwd=ROOT, timeout=600)
    if result.returncode != expect_status:
        raise RuntimeError(
            f"{binary.name} {' '.join(arguments)}: exit {result.returncode}, expected {expect_status}\n"
            + result.stderr)
    return json.loads(result.stdout)


def keys(value, path="$"):
    """Yields (path, key) for every object key, recursively."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield path, key
            yield from keys(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from keys(inner, f"{path}[{index}]")


def camel(key):
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def mutations(document, schema):
    """Altered copies of a valid document that the schema must reject, with a description."""
    required = schema.get("required", [])
    if required:
        removed = copy.deepcopy(document)
        del removed[required[-1]]
        yield f"without required key '{required[-1]}'", removed
    extra = copy.deepcopy(document)
    extra["unexpected_key"] = 1
    yield "with an unknown key", extra
    snake = [key for key in document if "_" in key]
    if snake:
        renamed = copy.deepcopy(document)
        renamed[camel(snake[0])] = renamed.pop(snake[0])
        yield f"with '{snake[0]}' renamed '{camel(snake[0])}'", renamed
    wrong = copy.deepcopy(document)
    first = required[0]
    wrong[first] = [] if not isinstance(wrong[first], list) else "not an array"
    yield f"with '{first}' of the wrong type", wrong


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default=str(ROOT / ".build" / "debug"), help="folder holding capsconv")
    arguments = parser.parse_args()
    capsconv = Path(arguments.bin) / "capsconv"

    passed = failed = 0

    def check(name, condition, detail=""):
        nonlocal passed, failed
        if condition:
            passed += 1
            print(f"ok    {name}")
        else:
            failed += 1
            print(f"FAIL  {name}" + (f": {detail}" if detail else ""))

    with tempfile.TemporaryDirectory() as scratch:
        imported = Path(scratch) / "tiny.caps.h5"
        subprocess.run(
            [str(capsconv), "import", "Fixtures/pth/tiny.pth", "-o", str(imported)],
            cwd=ROOT, check=True, capture_output=True)
        small = "Fixtures/models/small.h5"
        reference = "Fixtures/activations/small.h5"
        outputs = [
            ("inspect", "plain state_dict", run(capsconv, ["inspect", small, "--json"], 0)),
            ("inspect", "imported model file", run(capsconv, ["inspect", str(imported), "--json"], 0)),
            ("inspect", "NaN weights", run(capsconv, ["inspect", "Fixtures/bad/nan_weights.h5", "--json"], 0)),
            ("verify", "pass", run(capsconv, ["verify", small, "--reference", reference, "--json"], 0)),
            (
                "verify", "mismatch (exit 2)",
                run(capsconv, ["verify", small, "--reference", reference, "--atol", "0", "--rtol", "0", "--json"], 2),
            ),
            (
                "bench", "built-in digits",
                run(capsconv, ["bench", small, "--batch-size", "1", "--seconds", "0.05", "--json"], 0),
            ),
            (
                "bench", "reference",
                run(capsconv, ["bench", small, "--batch-size", "2", "--seconds", "0.05", "--reference", reference,
                               "--json"], 0),
            ),
        ]

    # The fixtures above must reach the optional parts of the schemas, or the checks prove less.
    by_name = {(command, case): document for command, case, document in outputs}
    check("inspect of an imported model carries source_sha256",
          "source_sha256" in by_name["inspect", "imported model file"])
    check("verify mismatch names first_failing_stage and an explicit atol",
          "first_failing_stage" in by_name["verify", "mismatch (exit 2)"]
          and "absolute" in by_name["verify", "mismatch (exit 2)"]["report"]["stages"][0]["tolerance"])

    for command, case, document in outputs:
        schema_path = SCHEMAS / f"capsconv-{command}.schema.json"
        schema = json.loads(schema_path.read_text())
        validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        errors = sorted(validator.iter_errors(document), key=lambda error: list(error.path))
        check(f"{command} --json ({case}) validates against {schema_path.name}", not errors,
              "; ".join(f"{'/'.join(map(str, error.path))}: {error.message}" for error in errors[:5]))
        bad = [f"{path}.{key}" for path, key in keys(document) if not SNAKE.match(key)]
        check(f"{command} --json ({case}) has snake_case keys only", not bad, ", ".join(bad[:5]))
        for description, altered in mutations(document, schema):
            check(f"{schema_path.name} rejects the {case} output {description}", not validator.is_valid(altered))

    # capsinfer --format jsonl: every row of a run with classified and failed files.
    capsinfer = Path(arguments.bin) / "capsinfer"
    result = subprocess.run(
        [str(capsinfer), "--format", "jsonl", "--top-k", "3", "Fixtures/digits/d8001_gray8.png",
         "Fixtures/digits/d8004_gray8.png", "Fixtures/bad/not_png.png"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    check("capsinfer --format jsonl: 3 rows, exit 1 for the failed file", len(rows) == 3 and result.returncode == 1,
          f"exit {result.returncode}, {len(rows)} rows\n{result.stderr}")
    schema_path = SCHEMAS / "capsinfer-jsonl-row.schema.json"
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    if not any("class_index" in row for row in rows):
        # Issue 18 (capsinfer's output, another branch) adds class_index and names the lengths by
        # class index; until it is merged the rows are the older ones and are not checked.
        print(f"skip  capsinfer rows against {schema_path.name}: this capsinfer predates the class_index column")
    else:
        for row in rows:
            case = "failed file" if "error" in row else "classified file"
            errors = list(validator.iter_errors(row))
            check(f"capsinfer jsonl row ({case}) validates against {schema_path.name}", not errors,
                  "; ".join(error.message for error in errors[:5]))
            bad = [f"{path}.{key}" for path, key in keys(row) if not SNAKE.match(key)]
            check(f"capsinfer jsonl row ({case}) has snake_case keys only", not bad, ", ".join(bad))
        classified = next(row for row in rows if "prediction" in row)
        for description, altered in [
            ("without class_index", {k: v for k, v in classified.items() if k != "class_index"}),
            ("with class_index renamed classIndex",
             {("classIndex" if k == "class_index" else k): v for k, v in classified.items()}),
            ("with a length named by label (length_a)", dict(classified, length_a=0.5)),
            ("with an unknown key", dict(classified, unexpected_key=1)),
            ("without prediction nor error", {"file": classified["file"]}),
        ]:
            check(f"{schema_path.name} rejects a classified row {description}", not validator.is_valid(altered))

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
