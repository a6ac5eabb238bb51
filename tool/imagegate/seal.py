"""What imagegate itself established, sealed so that only it can have written it.

A verdict kept beside a project, or the record that imagegate built an image, lives in the
project's `.imagegate/` folder: a folder a CI cache restores, a branch can write, a person
can edit. Each entry is sealed with an HMAC under a key that lives in the user's own state
folder (`$XDG_STATE_HOME/imagegate/seal.key`, by default `~/.local/state/imagegate/`),
never in the project, never in an image: an entry edited, copied under another key, or
written on another machine (another key) is not intact, and is judged afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imagegate.errors import EnvironmentProblem
from imagegate.files import write_atomic

FIELD = "seal"
"""The entry's key holding its seal."""
KEY_FILE = "seal.key"


def key_file() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "imagegate" / KEY_FILE


def _key() -> bytes:
    """The user's key, made on first use (32 random bytes, readable by the user alone).

    Two runs making it at once agree: the key is written to a temporary file and linked
    into place, so the first link wins and the other run reads it."""
    path = key_file()
    with contextlib.suppress(FileNotFoundError):
        return _read(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(secrets.token_bytes(32))
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
        return _read(path)
    except OSError as error:
        raise EnvironmentProblem(
            f"{path}: cannot keep imagegate's sealing key ({error.strerror or error}); "
            "make the folder writable or set XDG_STATE_HOME"
        ) from None


def _read(path: Path) -> bytes:
    key = path.read_bytes()
    if len(key) < 32:
        raise EnvironmentProblem(
            f"{path}: imagegate's sealing key is damaged ({len(key)} bytes); remove it "
            "(every kept verdict is then judged afresh once)"
        )
    return key


def _digest(entry: Mapping[str, object]) -> str:
    body = {name: value for name, value in entry.items() if name != FIELD}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hmac.new(_key(), text.encode(), hashlib.sha256).hexdigest()


def sealed(entry: Mapping[str, object]) -> dict[str, object]:
    """`entry` with its seal."""
    return {**entry, FIELD: _digest(entry)}


def intact(entry: Mapping[str, object]) -> bool:
    """Whether `entry` is as this user's imagegate sealed it."""
    found = entry.get(FIELD)
    return isinstance(found, str) and hmac.compare_digest(found, _digest(entry))


def entries(path: Path) -> list[dict[str, Any]]:
    """The intact entries of a sealed list file; none when it is missing or unreadable."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(found, list):
        return []
    return [entry for entry in found if isinstance(entry, dict) and intact(entry)]


def add(path: Path, entry: Mapping[str, object], *, unique: str, kept: int) -> None:
    """Put `entry` first in the sealed list file, dropping what has the same `unique`
    field and keeping the newest `kept`. Entries not intact are dropped too."""
    others = [old for old in entries(path) if old.get(unique) != entry.get(unique)]
    with contextlib.suppress(OSError):  # what is not kept is only established again next time
        write_atomic(path, json.dumps([sealed(entry), *others][:kept], indent=1))
