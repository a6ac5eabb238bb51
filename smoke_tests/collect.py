"""Collect facts about this Python environment and print them as one JSON document (schema 1).

Schema 1 grows only by keys a reader may lack: `files` (tier 1's installed files against
their RECORDs, tier1_files), each module item's `origin` (tier2_origins) and `models` (tier
3's report, with --with-models) are newer, and a reader written before them ignores them.

Runs inside the image (or a venv) with its own Python and the standard library only. It only
gathers facts; judging them against a profile's pins happens on the host.

    python collect.py --all-distributions --import torch --fact torch.version.cuda
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# Run as a script: its own directory is on sys.path, so the tiers import as top-level modules.
import tier1_files
import tier1_versions
import tier2_imports

SCHEMA = 1
HERE = Path(__file__).resolve().parent


def _statement(text: str) -> tier2_imports.Item:
    name, sep, code = text.partition("=")
    if not sep or not name.strip() or not code.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=CODE, got {text!r}")
    return tier2_imports.statement(name.strip(), code.strip())


def _tiers(text: str) -> set[int]:
    try:
        tiers = {int(part) for part in text.split(",")}
    except ValueError:
        tiers = set()
    if not tiers or not tiers <= {1, 2}:
        raise argparse.ArgumentTypeError(f"expected tiers such as 1,2, got {text!r}")
    return tiers


def _positive(text: str) -> float:
    value = float(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--import", dest="imports", action="append", default=[], metavar="MOD")
    parser.add_argument(
        "--statement",
        dest="statements",
        action="append",
        default=[],
        type=_statement,
        metavar="NAME=CODE",
        help="a statement to exec, e.g. peft=from peft import LoraConfig",
    )
    parser.add_argument(
        "--fact",
        dest="facts",
        action="append",
        default=[],
        metavar="EXPR",
        help="an expression whose value to report, e.g. torch.version.cuda",
    )
    parser.add_argument(
        "--all-distributions",
        action="store_true",
        help="also import every top-level module of every installed distribution",
    )
    parser.add_argument("--exclude", action="append", default=[], metavar="MOD")
    parser.add_argument("--timeout", type=_positive, default=120.0, metavar="SECONDS")
    parser.add_argument("--tiers", type=_tiers, default={1, 2}, metavar="1,2")
    parser.add_argument("--output", type=Path, metavar="PATH", help="instead of stdout")
    parser.add_argument("--fail-on-broken", action="store_true", help="exit 1 when any item failed")
    parser.add_argument("--quiet", action="store_true", help="no progress, no child stderr")
    parser.add_argument(
        "--models-output",
        type=Path,
        metavar="PATH",
        help="also run tier 3 (tier3_model.py) beside tiers 1-2 and write its JSON here",
    )
    parser.add_argument(
        "--with-models",
        action="store_true",
        help="also run tier 3 beside tiers 1-2 and put its report in this one, as `models`",
    )
    parser.add_argument(
        "--models-timeout",
        type=_positive,
        metavar="SECONDS",
        help="stop tier 3 this long after it started; its report then says so (default: none)",
    )
    parser.add_argument(
        "--model-arg",
        dest="model_args",
        action="append",
        default=[],
        metavar="ARG",
        help="one argument for tier3_model.py, repeatable (e.g. --model-arg=--arch=gpt2)",
    )
    return parser.parse_args(argv)


@dataclasses.dataclass
class Models:
    """Tier 3 (tier3_model.py) in a process of its own, beside tiers 1-2. Tier 2's shared
    child forks it once the --import modules are imported, so it pays none of those imports
    again (on two cores, torch imported twice at once costs a run as much as it saves).
    Where that child never got there (it crashed or hung first, or tier 2 does not run),
    tier 3 starts as a program of its own, as late as that."""

    folder: Path
    """Its report, errors and the fork's marks (tier2_imports.Beside)."""
    args: argparse.Namespace
    child: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    """When the program of its own started (time.monotonic())."""

    def beside(self, after: int) -> tier2_imports.Beside:
        """What tier 2's shared child forks once its item `after` is done."""
        return tier2_imports.Beside(
            after=after,
            path=str(HERE),
            module="tier3_model",
            argv=list(self.args.model_args),
            report=str(self.folder / "report"),
            errors=str(self.folder / "errors") if self.args.quiet else None,
            forked=str(self.folder / "forked"),
            pid=str(self.folder / "pid"),
            code=str(self.folder / "code"),
        )

    def start(self) -> None:
        """Tier 3 as a program of its own, begun now."""
        with (
            open(self.folder / "report", "wb") as report,
            open(self.folder / "errors", "wb") as errors,
        ):
            self.child = subprocess.Popen(
                [sys.executable, str(HERE / "tier3_model.py"), *self.args.model_args],
                stdout=report,
                stderr=errors if self.args.quiet else None,
            )
        self.started = time.monotonic()

    def finish(self) -> tuple[int, dict[str, Any]]:
        """Wait for tier 3, stopped --models-timeout after its start: its exit code and its
        report, or `{"error": ...}` saying why it left none."""
        if self.child is None and not (self.folder / "forked").exists():
            self.start()
        budget = self.args.models_timeout
        ended, code = self._wait(budget)
        if not ended:
            return 1, {"error": f"did not finish within {budget:g}s"}
        try:
            document: dict[str, Any] = json.loads((self.folder / "report").read_bytes())
        except (OSError, ValueError):
            how = f"exited {code}" if code is not None else "ended, its exit code unknown,"
            return code or 1, {"error": f"{how} without a report{self._last_line()}"}
        steps = document.get("steps", [])
        failed = [step["step"] for step in steps if not step["ok"] and not step["skipped"]]
        if code is None:  # its report is whole: what it would have exited with
            code = 1 if failed else 0
        if code and not self.args.quiet:
            print(f"tier3: {len(failed)} failed: {', '.join(failed)}", file=sys.stderr)
        return code, document

    def _wait(self, budget: float | None) -> tuple[bool, int | None]:
        """Whether it ended before `budget` seconds after its start (else it was stopped),
        and its exit code: None where a forked tier 3 ended and its watcher, stopped too,
        recorded none (no hang waiting for it)."""
        if self.child is not None:
            left = None if budget is None else max(0.0, budget - (time.monotonic() - self.started))
            try:
                return True, self.child.wait(timeout=left)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
                return False, None
        forked, pid, code = (self.folder / name for name in ("forked", "pid", "code"))
        deadline = None if budget is None else forked.stat().st_mtime + budget
        gone = None
        while not code.exists():
            now = time.time()
            if deadline is not None and now >= deadline:
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(pid.read_text(encoding="utf-8")), signal.SIGKILL)
                return False, None
            if gone is None and _ended(pid):
                gone = now
            elif gone is not None and now - gone > GRACE:
                return True, None
            time.sleep(0.02)
        return True, int(code.read_text(encoding="utf-8"))

    def _last_line(self) -> str:
        try:
            text = (self.folder / "errors").read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return ""
        lines = text.strip().splitlines()
        return f"; last output: {lines[-1]}" if lines else ""


GRACE = 2.0
"""Seconds a forked tier 3's watcher has to record how it ended, once it has."""


def _ended(pid: Path) -> bool:
    """Whether the process whose pid the file holds has ended (gone, or a zombie no one
    reaps); False while the file is not written yet."""
    try:
        number = int(pid.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    try:
        with open(f"/proc/{number}/stat", encoding="utf-8") as stat:
            return stat.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return not _exists(number)


def _exists(number: int) -> bool:
    try:
        os.kill(number, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _owners(distributions: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Each top-level module, with the distributions that install it."""
    owners: dict[str, list[str]] = {}
    for dist in distributions:
        for name in dist["top_level"]:
            owners.setdefault(name, []).append(dist["name"])
    return owners


def _items(
    args: argparse.Namespace, distributions: list[dict[str, Any]]
) -> list[tier2_imports.Item]:
    """--import modules in the order given, then every distribution's, then statements, facts."""
    modules: list[str] = list(dict.fromkeys(args.imports))
    if args.all_distributions:
        skip = set(modules) | set(args.exclude)
        found = {name for dist in distributions for name in dist["top_level"]}
        modules += sorted(found - skip)
    statements: list[tier2_imports.Item] = args.statements
    items = [tier2_imports.module(name) for name in modules]
    return items + statements + [tier2_imports.fact(text) for text in args.facts]


def _write_atomic(path: Path, text: str) -> None:
    """Readers (and a Docker layer) see the old file or the whole new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temp, 0o644)  # mkstemp's 0600 would hide the facts from other users
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.models_output is None and not args.with_models:
        return _collect(args, None)
    with tempfile.TemporaryDirectory(prefix="tier3-") as folder:
        models = Models(Path(folder), args)
        if 2 not in args.tiers:
            models.start()
        return _collect(args, models)


def _collect(args: argparse.Namespace, models: Models | None) -> int:
    started = time.monotonic()
    files = tier1_files.start() if 1 in args.tiers else None  # hashing overlaps tier 2
    distributions: list[dict[str, Any]] = []
    if 1 in args.tiers or args.all_distributions:
        distributions = tier1_versions.distributions()
        if not args.quiet:
            elapsed = time.monotonic() - started
            print(f"tier1: {len(distributions)} distributions ({elapsed:.2f}s)", file=sys.stderr)
    results: list[tier2_imports.Result] = []
    if 2 in args.tiers:
        items = _items(args, distributions)
        owners = _owners(distributions)
        # Tier 3 forked once the --import modules are imported.
        beside = None if models is None else models.beside(len(set(args.imports)) - 1)
        results = tier2_imports.run(
            items, owners=owners, timeout=args.timeout, quiet=args.quiet, beside=beside
        )
    checked = files() if files is not None else None
    if checked is not None and not args.quiet:
        print(f"tier1: {_files_summary(checked)}", file=sys.stderr)
    document = {
        "schema": SCHEMA,
        "python": tier1_versions.python_facts(),
        "environment": tier1_versions.marker_environment(),
        "distributions": distributions if 1 in args.tiers else [],
        "items": [dataclasses.asdict(result) for result in results],
        "files": checked,
        "seconds": round(time.monotonic() - started, 3),
    }
    broken = [result.subject for result in results if not result.ok or _foreign(result)]
    if broken and not args.quiet:
        print(f"tier2: {len(broken)} failed: {', '.join(broken)}", file=sys.stderr)
    changed = bool(checked and (checked["problems"] or checked.get("error")))
    models_code = 0
    if models is not None:
        models_code, report = models.finish()
        if args.with_models:
            document["models"] = report
        if "error" in report:
            print(f"tier3: {report['error']}", file=sys.stderr)
        elif args.models_output is not None:
            _write_atomic(args.models_output, json.dumps(report, indent=2) + "\n")
    text = json.dumps(document, indent=2) + "\n"
    if args.output is None:
        sys.stdout.write(text)
    else:
        _write_atomic(args.output, text)
    return 1 if (broken or changed or models_code) and args.fail_on_broken else 0


def _files_summary(checked: dict[str, Any]) -> str:
    if checked.get("error"):
        return f"installed files not checked: {checked['error']}"
    return (
        f"{checked['files']} files of {checked['distributions']} distributions hashed against "
        f"their RECORD, {len(checked['problems'])} with problems ({checked['seconds']:.2f}s)"
    )


def _foreign(result: tier2_imports.Result) -> bool:
    """A module loaded from somewhere other than its distribution's files (or not checked)."""
    origin = result.origin or {}
    return bool(origin.get("foreign") or origin.get("error"))


if __name__ == "__main__":
    sys.exit(main())
