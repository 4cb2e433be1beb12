#!/usr/bin/env python3
"""Validates SARIF documents against the SARIF 2.1.0 schema checked in at
Tests/Fixtures/sarif-schema-2.1.0.json (OASIS's, errata 01; JSON Schema draft 4), formats
checked. Prints each problem and exits 1 when a document does not conform.

  check-sarif.py FILE …

Run it with the virtualenv of scripts/lib.sh's python_tools (jsonschema).
"""
import json
import os
import sys

import jsonschema

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = os.path.join(ROOT, "Tests", "Fixtures", "sarif-schema-2.1.0.json")


def main(paths):
    with open(SCHEMA, encoding="utf-8") as file:
        schema = json.load(file)
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER)
    failed = False
    for path in paths:
        with open(path, encoding="utf-8") as file:
            document = json.load(file)
        for error in sorted(validator.iter_errors(document), key=lambda error: list(error.absolute_path)):
            failed = True
            where = "/".join(str(part) for part in error.absolute_path)
            print(f"{path}: at /{where}: {error.message}")
        if not failed:
            print(f"{path}: SARIF 2.1.0, valid")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
