#!/usr/bin/env python3
"""Validate cnnc specs against schema/cnnc-spec.schema.json with the `jsonschema` package.

usage: scripts/validate-schema.py SCHEMA SPEC...

Prints one JSON object: for each spec, the JSON paths ("/layers/0/Conv2D/out_channels", "/" for
the top level) of every error the validator reports, including those inside anyOf alternatives.
Exit status 0 whether or not specs are valid (the caller judges), 2 on misuse.

YAML is read with PyYAML plus one YAML 1.2 rule cnnc follows: `1e-5` is a number (PyYAML's
YAML 1.1 resolver would read it as a string). needs: jsonschema, pyyaml.
"""
import json
import re
import sys

import jsonschema
import yaml


class Loader(yaml.SafeLoader):
    pass


Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def paths(error):
    """The error's path and those of the errors it summarizes (anyOf branches)."""
    yield "/" + "/".join(str(part) for part in error.absolute_path)
    for sub in error.context or []:
        yield from paths(sub)


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    report = {}
    for path in argv[2:]:
        with open(path, encoding="utf-8") as f:
            document = yaml.load(f, Loader=Loader)
        found = set()
        for error in validator.iter_errors(document):
            found.update(paths(error))
        report[path] = sorted(found)
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
