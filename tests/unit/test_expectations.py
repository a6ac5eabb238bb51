"""The expectations file beside a worker's tests.json: read strictly, and an answer matched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imagegate.errors import ProfileError
from imagegate.expectations import contains, parse, path_for, read_beside, text
from imagegate.worker_tests import WorkerTests

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "runpod-worker" / ".runpod"
NAMES = ("answers a prompt", "rejects a number")


def expectation(raw: dict[str, Any]) -> Any:
    return parse({"answers a prompt": raw}, Path("tests.expected.json"), NAMES)["answers a prompt"]


def test_the_expectations_of_a_tests_file_are_the_file_beside_it_named_for_it() -> None:
    assert path_for(Path(".runpod/tests.json")) == Path(".runpod/tests.expected.json")
    assert path_for(Path("rejected.json")) == Path("rejected.expected.json")


def test_the_examples_expectation_is_read_with_its_tests() -> None:
    tests = WorkerTests.read(EXAMPLE / "tests.json")

    expected = tests.expected["answers a prompt"]
    assert expected.wrong_answer({"prompt_bytes": 13, "answer_ids": [1, 2, 3, 4]}) is None
    assert expected.wrong_answer({"prompt_bytes": 12, "answer_ids": [1, 2, 3, 4]}) is not None
    assert expected.wrong_answer({"prompt_bytes": 13, "answer_ids": [1, 2]}) is not None


def test_a_tests_file_without_expectations_expects_none(tmp_path: Path) -> None:
    assert read_beside(tmp_path / "tests.json", NAMES) == {}


def test_equals_is_json_equality_a_boolean_is_no_number() -> None:
    equals = expectation({"equals": {"ok": True, "n": [1, 2]}})

    assert equals.wrong_answer({"ok": True, "n": [1.0, 2]}) is None
    assert equals.wrong_answer({"ok": 1, "n": [1, 2]}) is not None
    assert equals.wrong_answer({"ok": True, "n": [1, 2], "more": 0}) is not None
    assert expectation({"equals": {"a": {"b": 1}}}).wrong_answer({"a": {"b": 1, "c": 2}})


def test_contains_is_a_json_subset_all_the_way_down() -> None:
    assert contains({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 1}})
    assert contains([{"id": 1, "x": 0}, {"id": 2}], [{"id": 1}, {"id": 2}])
    assert not contains([{"id": 1}, {"id": 2}], [{"id": 1}])  # a list: the same length
    assert not contains({"a": 1}, {"a": 1, "b": 2})
    assert not contains({"a": "1"}, {"a": 1})
    assert not contains({"a": 0}, {"a": False})


def test_matches_searches_a_strings_own_text_else_its_compact_json() -> None:
    assert expectation({"matches": "^Hello"}).wrong_answer("Hello, world") is None
    assert expectation({"matches": '"n":3'}).wrong_answer({"n": 3}) is None
    assert expectation({"matches": '"n":4'}).wrong_answer({"n": 3}) is not None
    assert text({"a": [1, "é"]}) == '{"a":[1,"é"]}'


def test_several_keys_must_all_hold() -> None:
    both = expectation({"contains": {"n": 3}, "matches": "ok"})

    assert both.wrong_answer({"n": 3, "s": "ok"}) is None
    assert both.wrong_answer({"n": 3, "s": "no"}) is not None
    assert both.describe() == 'contains {"n":3}, matches /ok/'


def test_an_expected_error_is_any_error_or_one_matching_a_pattern() -> None:
    anything = expectation({"error": True})
    pattern = expectation({"error": "non-empty string"})

    assert anything.wrong_error("ValueError: boom") is None
    assert pattern.wrong_error("ValueError: input.prompt must be a non-empty string") is None
    assert pattern.wrong_error("KeyError: 'prompt'") is not None
    assert (anything.describe(), pattern.describe()) == (
        "an error",
        "an error matching /non-empty string/",
    )


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ([], "(top level)"),
        ({"answers a promt": {"equals": 1}}, "answers a promt"),
        ({"answers a prompt": {}}, "answers a prompt"),
        ({"answers a prompt": {"equal": 1}}, "answers a prompt.equal"),
        ({"answers a prompt": {"matches": "("}}, "answers a prompt.matches"),
        ({"answers a prompt": {"matches": 3}}, "answers a prompt.matches"),
        ({"answers a prompt": {"error": False}}, "answers a prompt.error"),
        ({"answers a prompt": {"error": True, "equals": 1}}, "answers a prompt.error"),
    ],
)
def test_a_mistake_is_one_line_naming_the_file_and_key(tmp_path: Path, data: Any, key: str) -> None:
    tests = tmp_path / "tests.json"
    beside = tmp_path / "tests.expected.json"
    beside.write_text(json.dumps(data), encoding="utf-8")

    with pytest.raises(ProfileError) as raised:
        read_beside(tests, NAMES)

    message = str(raised.value)
    assert message.startswith(f"{beside}: {key}: ") and "\n" not in message


def test_a_file_that_is_not_json_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "tests.expected.json").write_text("{oops", encoding="utf-8")

    with pytest.raises(ProfileError, match="not valid JSON"):
        read_beside(tmp_path / "tests.json", NAMES)


def test_an_unknown_test_name_lists_the_tests_there_are(tmp_path: Path) -> None:
    (tmp_path / "tests.expected.json").write_text('{"typo": {"error": true}}', encoding="utf-8")

    with pytest.raises(ProfileError) as raised:
        read_beside(tmp_path / "tests.json", NAMES)

    assert "answers a prompt" in str(raised.value) and "rejects a number" in str(raised.value)
