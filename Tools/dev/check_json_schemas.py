#!/usr/bin/env python3
"""Validates the real `--json` output of capsconv against the JSON Schemas in docs/schemas/.

    python3 Tools/dev/check_json_schemas.py [--bin .build/debug]

Runs the built capsconv on fixtures (inspect of a plain state_dict, of an imported model file and
of a model with NaN weights; verify passing and failing; bench on built-in digits and on a
reference) and validates each document with the `jsonschema` package (Draft 2020-12, an
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

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
