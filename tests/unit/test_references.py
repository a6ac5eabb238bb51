"""Image references: Docker's grammar says what is one, Docker's SDK splits it."""

from __future__ import annotations

import pytest

from imagegate.errors import ExitCode, UsageError
from imagegate.references import (
    Reference,
    default_image,
    parse,
    problem,
    repository_and_tag,
)
from imagegate.workflow import unverified_tag

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "repository", "tag", "digest"),
    [
        ("localhost:5000/img", "localhost:5000/img", None, None),
        ("localhost:5000/img:v1", "localhost:5000/img", "v1", None),
        (f"img@{DIGEST}", "img", None, DIGEST),
        (f"img:v1@{DIGEST}", "img", "v1", DIGEST),
        ("ghcr.io/a/b:tag", "ghcr.io/a/b", "tag", None),
        ("python:3.11-slim-bookworm", "python", "3.11-slim-bookworm", None),
        ("[::1]:5000/team/img:2.5.1_cu121", "[::1]:5000/team/img", "2.5.1_cu121", None),
    ],
)
def test_a_reference_is_split_into_its_parts(
    text: str, repository: str, tag: str | None, digest: str | None
) -> None:
    parsed = parse(text)
    assert parsed == Reference(repository=repository, tag=tag, digest=digest)
    assert str(parsed) == text


@pytest.mark.parametrize(
    ("text", "part"),
    [
        ("python:3.11\nRUN echo injected", "line break"),
        ("python:3.11 AS x", "whitespace"),
        ("python:3.11\\", "name"),
        ("Python:3.11", "capitals"),
        ("img:", "tag"),
        ("img:-dev", "tag"),
        ("img:" + "t" * 129, "tag"),
        ("img@sha256:xyz", "digest"),
        ("a:b:c", "name"),
        ("team//img", "name"),
        ("", "empty"),
        ("a" * 256, "255"),
    ],
)
def test_what_is_not_a_reference_is_named_on_one_line(text: str, part: str) -> None:
    message = problem(text)
    assert message is not None
    assert message.startswith(f"{text!r} is not an image reference (")
    assert part in message
    assert "\n" not in message
    with pytest.raises(UsageError) as raised:
        parse(text)
    assert raised.value.exit_code == ExitCode.BAD_INPUT


def test_tagging_needs_a_tag_and_refuses_a_digest() -> None:
    assert repository_and_tag("localhost:5000/img") == ("localhost:5000/img", "latest")
    assert repository_and_tag("localhost:5000/img:v1") == ("localhost:5000/img", "v1")
    with pytest.raises(UsageError, match="digest"):
        repository_and_tag(f"img@{DIGEST}")


@pytest.mark.parametrize(
    ("tag", "unverified"),
    [
        ("localhost:5000/img", "localhost:5000/img:latest-unverified"),
        ("localhost:5000/img:v1", "localhost:5000/img:v1-unverified"),
        ("ghcr.io/a/b:tag", "ghcr.io/a/b:tag-unverified"),
        ("imagegate/cpu", "imagegate/cpu:latest-unverified"),
    ],
)
def test_the_unverified_tag_stays_in_the_same_repository(tag: str, unverified: str) -> None:
    assert unverified_tag(tag) == unverified
    assert parse(unverified).repository == parse(tag).repository


def test_a_profile_image_is_named_under_the_chosen_repository() -> None:
    assert default_image("cpu") == "imagegate/cpu:latest"
    assert default_image("cpu", "localhost:5000/team") == "localhost:5000/team/cpu:latest"


@pytest.mark.parametrize("repository", ["Team/Images", "team images", "team/", "-team"])
def test_a_repository_that_names_no_image_is_refused_naming_the_variable(
    repository: str,
) -> None:
    with pytest.raises(UsageError, match="IMAGEGATE_REPOSITORY") as refused:
        default_image("cpu", repository)
    assert refused.value.exit_code == ExitCode.BAD_INPUT
    assert "\n" not in str(refused.value)
