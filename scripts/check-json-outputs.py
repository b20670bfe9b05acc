#!/usr/bin/env python3
"""Checks generated JSON against JSON Schemas with the `jsonschema` library (formats checked too).

Input: a JSON file holding a list of {"schema": <schema>, "output": "<generated text>"}.
Prints one line per case and exits 1 when any output is not JSON or does not validate.
"""
import json
import sys

import jsonschema


def main(path):
    cases = json.load(open(path, encoding="utf-8"))
    failures = 0
    for index, case in enumerate(cases):
        schema, output = case["schema"], case["output"]
        try:
            instance = json.loads(output)
        except ValueError as error:
            failures += 1
            print(f"case {index}: not JSON ({error}): {output!r}")
            continue
        cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
        cls.check_schema(schema)
        errors = [e.message for e in cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(instance)]
        if errors:
            failures += 1
            print(f"case {index}: invalid ({errors[0]}): {output!r}")
        else:
            print(f"case {index}: ok {output!r}")
    print(f"{len(cases) - failures} of {len(cases)} outputs validate")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
