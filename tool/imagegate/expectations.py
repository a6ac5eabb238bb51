"""What a RunPod worker's tests should answer: imagegate's own file beside the Hub's tests.

The Hub's parser refuses a key it does not know in `tests.json`, so the expectations live
apart, beside it: `tests.json` → `tests.expected.json` (`rejected.json` →
`rejected.expected.json`). Each key is a test's name; its value says what that test must
answer, read strictly (every mistake named by its key, exit 2):

- `equals`: the output, JSON-equal (`true` is not `1`);
- `contains`: a JSON subset: each key of an object, recursively; a list element by element,
  of the same length;
- `matches`: a regular expression searched in the output's text (a string output itself,
  else its compact JSON: `{"a":1,"b":[2,3]}`, keys in the handler's order);
- `error`: the test expects the job to fail: `true`, or a regular expression searched in the
  error (`ValueError: input.prompt must be a non-empty string`). Alone: not with the others.

Pure: reading the file and matching an answer; running the tests is `worker`'s.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imagegate.errors import ProfileError
from imagegate.files import read_json

SUFFIX = ".expected.json"
_KEYS = ("equals", "contains", "matches", "error")
_UNSET: Any = object()


@dataclass(frozen=True, kw_only=True)
class Expectation:
    equals: Any = _UNSET
    contains: Any = _UNSET
    matches: re.Pattern[str] | None = None
    error: re.Pattern[str] | bool = False
    """True: any error; a pattern: an error it is found in; False: no error expected."""

    def describe(self) -> str:
        """What the test must answer, as the report's `expected` says it."""
        if self.error is not False:
            pattern = self.error.pattern if isinstance(self.error, re.Pattern) else ""
            return f"an error matching /{pattern}/" if pattern else "an error"
        said = []
        if self.equals is not _UNSET:
            said.append(f"equals {text(self.equals)}")
        if self.contains is not _UNSET:
            said.append(f"contains {text(self.contains)}")
        if self.matches is not None:
            said.append(f"matches /{self.matches.pattern}/")
        return ", ".join(said)

    def wrong_answer(self, output: Any) -> str | None:
        """Why `output` is not the answer expected; None when it is."""
        if self.equals is not _UNSET and not _equal(output, self.equals):
            return f"expected exactly {text(self.equals)}"
        if self.contains is not _UNSET and not contains(output, self.contains):
            return f"expected it to contain {text(self.contains)}"
        if self.matches is not None and self.matches.search(text(output)) is None:
            return f"expected a match for /{self.matches.pattern}/"
        return None

    def wrong_error(self, error: str) -> str | None:
        """Why the job's `error` is not the one expected; None when it is."""
        if isinstance(self.error, re.Pattern) and self.error.search(error) is None:
            return f"expected an error matching /{self.error.pattern}/"
        return None


def text(value: Any) -> str:
    """An answer as `matches` and the report see it: a string itself, else compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr)


def contains(actual: Any, expected: Any) -> bool:
    """Whether `expected` is a JSON subset of `actual`."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(contains(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return _equal(actual, expected)


def _equal(actual: Any, expected: Any) -> bool:
    """JSON equality: a boolean is no number, 1 is 1.0, containers compared all the way down."""
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(_equal(actual[key], value) for key, value in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_equal(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual is expected
    return bool(actual == expected)


def path_for(tests_file: Path) -> Path:
    """Where the expectations of `tests_file` are: beside it, `<stem>.expected.json`."""
    return tests_file.with_name(tests_file.stem + SUFFIX)


def read_beside(tests_file: Path, names: Collection[str]) -> dict[str, Expectation]:
    """The expectations beside `tests_file` (none when it has no such file), each naming a
    test in `names`."""
    path = path_for(tests_file)
    if not path.is_file():
        return {}
    return parse(read_json(path), path, names)


def parse(data: Any, path: Path, names: Collection[str]) -> dict[str, Expectation]:
    """The file's content, checked: every mistake named by its key, exit 2."""

    def bad(key: str, what: str) -> ProfileError:
        return ProfileError(f"{path}: {key}: {what}; see imagegate's README (RunPod worker)")

    if not isinstance(data, dict):
        raise bad("(top level)", "must be an object: a test's name → what it must answer")
    found = {}
    for name, raw in data.items():
        if name not in names:
            known = ", ".join(sorted(names))
            raise bad(name, f"no test of that name in the tests beside it (tests: {known})")
        if not isinstance(raw, dict) or not raw:
            raise bad(name, f"must be an object with one or more of {', '.join(_KEYS)}")
        for key in raw:
            if key not in _KEYS:
                raise bad(f"{name}.{key}", f"unknown key (known: {', '.join(_KEYS)})")
        if "error" in raw and len(raw) > 1:
            raise bad(f"{name}.error", "a test that expects an error expects no output too")
        found[name] = Expectation(
            equals=raw.get("equals", _UNSET),
            contains=raw.get("contains", _UNSET),
            matches=_pattern(raw, "matches", bad, name) if "matches" in raw else None,
            error=_error(raw, bad, name),
        )
    return found


def _error(raw: Mapping[str, Any], bad: Any, name: str) -> re.Pattern[str] | bool:
    value = raw.get("error", False)
    if value is True:
        return True
    if isinstance(value, str):
        return _pattern(raw, "error", bad, name)
    if value is False and "error" not in raw:
        return False
    raise bad(f"{name}.error", "must be true or a regular expression the error must match")


def _pattern(raw: Mapping[str, Any], key: str, bad: Any, name: str) -> re.Pattern[str]:
    value = raw[key]
    if not isinstance(value, str) or not value:
        raise bad(f"{name}.{key}", "must be a non-empty regular expression")
    try:
        return re.compile(value)
    except re.error as error:
        raise bad(f"{name}.{key}", f"not a valid regular expression ({error})") from None
