"""Image references, read by one grammar and split by one parser; never by hand.

`problem` says whether a text is a reference at all, by Docker's own grammar
(distribution/reference: `[registry[:port]/]path[:tag][@digest]`, lowercase path
components). It is pure, so the profile schema checks `base.image` without loading the SDK.

`parse` splits a reference by the same grammar, matched whole, so a reference means here
what it means to the daemon (`localhost:5000/img` is the repository `localhost:5000/img`,
not the tag `5000/img`: a tag holds no `/`). No Docker SDK is needed: engine.py stays the
only module that imports it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from imagegate.errors import UsageError

SHAPE = "[registry[:port]/]name[:tag][@digest] in lowercase, e.g. 'python:3.11-slim'"
NAME_MAX = 255
"""distribution/reference's NameTotalLengthMax: the name without tag and digest."""

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])"
_NAME = re.compile(rf"(?:{_HOST}(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*", re.ASCII)
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)
_DIGEST = re.compile(
    r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}", re.ASCII
)
_REFERENCE = re.compile(
    rf"(?P<name>{_NAME.pattern})(?::(?P<tag>{_TAG.pattern}))?(?:@(?P<digest>{_DIGEST.pattern}))?",
    re.ASCII,
)
_PARTS = re.compile(r"(?P<name>.*?)(?::(?P<tag>[^:/@]*))?(?:@(?P<digest>.*))?", re.DOTALL)
"""Where the parts would be, to say which one is wrong."""


@dataclass(frozen=True, kw_only=True)
class Reference:
    repository: str
    """`localhost:5000/team/img`: registry (when named) and path, without tag or digest."""
    tag: str | None
    digest: str | None
    """`sha256:<hex>` when the reference pins content."""

    def __str__(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        digest = f"@{self.digest}" if self.digest else ""
        return f"{self.repository}{tag}{digest}"


def problem(text: str) -> str | None:
    """Why `text` is not an image reference (one line), or None when it is one."""
    why = _why(text)
    return None if why is None else f"{text!r} is not an image reference ({why}); write {SHAPE}"


def parse(text: str) -> Reference:
    """`text` split into repository, tag and digest; a non-reference is a UsageError."""
    if (message := problem(text)) is not None:
        raise UsageError(message)
    parts = _REFERENCE.fullmatch(text)
    assert parts is not None, "a text the grammar accepts matches it whole"
    return Reference(repository=parts["name"], tag=parts["tag"], digest=parts["digest"])


REPOSITORY_VARIABLE = "IMAGEGATE_REPOSITORY"
"""The environment variable naming the repository a profile's image is tagged under."""
DEFAULT_REPOSITORY = "imagegate"


def repository_problem(text: str) -> str | None:
    """Why images can't be named `TEXT/PROFILE:TAG` (a clause), or None when they can."""
    why = _why(f"{text}/profile")
    return "it has capitals" if why is None and text != text.lower() else why


def default_image(profile: str, repository: str | None = None) -> str:
    """`REPOSITORY/PROFILE:latest`, the tag a command builds or judges when none is given;
    `repository` (from $IMAGEGATE_REPOSITORY, else the profile) defaults to `imagegate`."""
    chosen = repository or DEFAULT_REPOSITORY
    if (why := repository_problem(chosen)) is not None:
        raise UsageError(
            f"{REPOSITORY_VARIABLE}={chosen!r} is not an image repository ({why}); "
            "set it to lowercase [registry[:port]/]path, e.g. 'localhost:5000/team'"
        )
    return f"{chosen}/{profile}:latest"


def repository_and_tag(text: str) -> tuple[str, str]:
    """The repository and the tag (`latest` when none is written), as tagging, importing and
    pushing need them; a digest names content that exists already, so it is refused."""
    reference = parse(text)
    if reference.digest is not None:
        raise UsageError(
            f"{text}: a digest names an existing image, not a new one; give a tag instead"
        )
    return reference.repository, reference.tag or "latest"


def with_tag_suffix(text: str, suffix: str) -> str:
    """The same repository with `suffix` added to its tag: `img` -> `img:latest<suffix>`."""
    repository, tag = repository_and_tag(text)
    return str(parse(f"{repository}:{tag}{suffix}"))


def _why(text: str) -> str | None:
    """The first part that breaks the grammar, named; the parts are told apart loosely."""
    if not text:
        return "it is empty"
    if any(char.isspace() or not char.isprintable() for char in text):
        return "it holds whitespace, a line break or a control character"
    parts = _PARTS.fullmatch(text)
    assert parts is not None, "every text has a name part"
    name, tag, digest = parts.group("name", "tag", "digest")
    if _NAME.fullmatch(name) is None:
        if _NAME.fullmatch(name.lower()) is not None:
            return f"the name {name!r} has capitals; repository names are lowercase"
        return f"the name {name!r} is not [registry[:port]/]path of lowercase components"
    if len(name) > NAME_MAX:
        return f"the name is {len(name)} characters long; at most {NAME_MAX}"
    if tag is not None and _TAG.fullmatch(tag) is None:
        return (
            f"the tag {tag!r} is not 1-128 letters, digits, '_', '.' or '-', "
            "not starting with '.' or '-'"
        )
    if digest is not None and _DIGEST.fullmatch(digest) is None:
        return f"the digest {digest!r} is not algorithm:hex, such as sha256:<64 hex digits>"
    return None
