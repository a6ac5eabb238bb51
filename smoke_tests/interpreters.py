"""Which of the given Pythons exist here, and which distributions each has installed.

Runs inside an image with any Python 3 and the standard library only: one run asks every
candidate (each in a process of its own, so a broken one is reported, not fatal) and prints
one JSON document. Judging which one to verify happens on the host.

    python3 interpreters.py --want torch /opt/venv/bin/python /usr/bin/python3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

SCHEMA = 1
ASK_TIMEOUT = 60.0
_ASK = """
import json, os, sys
try:
    from importlib import metadata
except ImportError:
    metadata = None
found = {}
for name in sys.argv[1:]:
    try:
        found[name] = metadata.version(name)
    except Exception:
        found[name] = None
print(json.dumps({"prefix": sys.prefix, "executable": os.path.realpath(sys.executable),
                  "version": "%d.%d.%d" % tuple(sys.version_info[:3]), "found": found}))
"""
"""Run by each candidate: written for any Python that can print JSON, a Python 2 included."""


def ask(path: str, wanted: list[str]) -> dict[str, object]:
    """What `path` says of itself, or why it could not say."""
    entry: dict[str, object] = {"path": path}
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        entry["error"] = "no such interpreter"
        return entry
    try:
        done = subprocess.run(
            [path, "-c", _ASK, *wanted],
            capture_output=True,
            text=True,
            timeout=ASK_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        entry["error"] = str(error).splitlines()[0]
        return entry
    try:
        entry.update(json.loads(done.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        entry["error"] = f"exit {done.returncode}: {tail}"
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--want", action="append", default=[], metavar="DISTRIBUTION")
    parser.add_argument("candidates", nargs="*", metavar="PATH")
    args = parser.parse_args(argv)
    found = [ask(path, args.want) for path in dict.fromkeys(args.candidates)]
    sys.stdout.write(json.dumps({"schema": SCHEMA, "pythons": found}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
