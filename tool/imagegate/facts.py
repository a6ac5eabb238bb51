"""Facts as the in-image collector reports them (smoke_tests/collect.py, schema 1).

Only the shape is checked here; what the facts mean against a profile is `verify`'s job.
Schema 1 grows by optional keys only, so a reader never rejects a newer collector's facts
and this one reads an older collector's: `files` (the installed files against their RECORD)
and a module item's `origin` (where it was loaded from) are None where they were not
collected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

from imagegate.contract import SCHEMA
from imagegate.errors import BuildFailed

CUDA_FACT = "torch.version.cuda"
HIP_FACT = "torch.version.hip"
"""A prefix: a profile may check a slice of it, e.g. `torch.version.hip[:3]`."""


@dataclass(frozen=True, kw_only=True)
class Distribution:
    name: NormalizedName
    version: str
    requires: tuple[str, ...]
    top_level: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Foreign:
    """A place a module was loaded from that is none of its distributions' files."""

    path: str
    entry: str | None
    """The sys.path entry holding it."""
    via: str
    """What put that entry on sys.path: PYTHONPATH, `.pth file PATH`, the working directory."""


@dataclass(frozen=True, kw_only=True)
class Origin:
    """Where an imported module was loaded from (smoke_tests/tier2_origins.py)."""

    paths: tuple[str, ...]
    distributions: tuple[str, ...]
    """The distributions whose files it must be loaded from; none: not judged."""
    foreign: tuple[Foreign, ...]
    error: str | None
    seconds: float = 0.0
    """What the check took (after the import, in tier 2's child)."""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Origin:
        return cls(
            paths=tuple(raw.get("paths") or ()),
            distributions=tuple(raw.get("distributions") or ()),
            foreign=tuple(
                Foreign(path=str(f["path"]), entry=f.get("entry"), via=str(f.get("via") or ""))
                for f in raw.get("foreign") or ()
            ),
            error=raw.get("error"),
            seconds=float(raw.get("seconds") or 0.0),
        )


@dataclass(frozen=True, kw_only=True)
class FileProblems:
    """One distribution's installed files that are not as its RECORD lists them."""

    name: NormalizedName
    version: str
    missing: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    unlisted: tuple[str, ...] = ()
    """Module files under its top-level folders that no distribution's RECORD lists."""
    unreadable: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class InstalledFiles:
    """Tier 1's check of the installed files (smoke_tests/tier1_files.py)."""

    distributions: int
    files: int
    """Hashed RECORD entries."""
    without_record: tuple[str, ...]
    problems: tuple[FileProblems, ...]
    seconds: float
    error: str | None = None
    """Why the check could not run (its process failed); nothing was checked then."""

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> InstalledFiles:
        problems = tuple(
            FileProblems(
                name=canonicalize_name(entry["name"]),
                version=str(entry.get("version") or ""),
                **{kind: tuple(entry.get(kind) or ()) for kind in _FILE_PROBLEMS},
            )
            for entry in raw.get("problems") or ()
        )
        return cls(
            distributions=int(raw.get("distributions") or 0),
            files=int(raw.get("files") or 0),
            without_record=tuple(raw.get("without_record") or ()),
            problems=problems,
            seconds=float(raw.get("seconds") or 0.0),
            error=raw.get("error"),
        )


_FILE_PROBLEMS = ("missing", "changed", "unlisted", "unreadable")


@dataclass(frozen=True, kw_only=True)
class ItemResult:
    kind: str
    """module, statement or fact."""
    subject: str
    code: str
    ok: bool
    value: str | None
    error: str | None
    seconds: float
    isolated: bool
    origin: Origin | None = None


@dataclass(frozen=True, kw_only=True)
class Facts:
    python_version: str
    environment: Mapping[str, str]
    distributions: Mapping[NormalizedName, Distribution]
    items: tuple[ItemResult, ...]
    seconds: float
    files: InstalledFiles | None = None

    @classmethod
    def from_json(cls, text: str, *, source: str) -> Facts:
        try:
            data = json.loads(text)
            return cls.from_dict(data)
        except (ValueError, KeyError, TypeError) as error:
            raise _unusable(source, "the smoke collector", error, text) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Facts:
        if data["schema"] != SCHEMA:
            raise ValueError(f"schema {data['schema']!r}, expected {SCHEMA}")
        distributions = {}
        for raw in data["distributions"]:
            name = canonicalize_name(raw["name"])
            distributions[name] = Distribution(
                name=name,
                version=str(raw["version"]),
                requires=tuple(raw.get("requires") or ()),
                top_level=tuple(raw.get("top_level") or ()),
            )
        items = tuple(
            ItemResult(
                kind=raw["kind"],
                subject=raw["subject"],
                code=raw.get("code") or "",
                ok=bool(raw["ok"]),
                value=raw.get("value"),
                error=raw.get("error"),
                seconds=float(raw.get("seconds") or 0.0),
                isolated=bool(raw.get("isolated")),
                origin=Origin.from_dict(raw["origin"]) if raw.get("origin") else None,
            )
            for raw in data.get("items") or ()
        )
        files = data.get("files")
        return cls(
            python_version=str(data["python"]["version"]),
            environment=dict(data["environment"]),
            distributions=distributions,
            items=items,
            seconds=float(data.get("seconds") or 0.0),
            files=InstalledFiles.from_dict(files) if files is not None else None,
        )


@dataclass(frozen=True, kw_only=True)
class ModelStep:
    step: str
    ok: bool
    skipped: bool
    reason: str | None
    error: str | None
    seconds: float


@dataclass(frozen=True, kw_only=True)
class ModelFacts:
    """What smoke_tests/tier3_model.py reports (schema 1): the GPU it saw and each step."""

    gpu_available: bool
    gpu_name: str | None
    steps: tuple[ModelStep, ...]

    @classmethod
    def from_json(cls, text: str, *, source: str) -> ModelFacts:
        try:
            return cls.from_dict(json.loads(text))
        except (ValueError, KeyError, TypeError) as error:
            raise _unusable(source, "the tier 3 script", error, text) from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelFacts:
        if data["schema"] != SCHEMA or data["tier"] != 3:
            raise ValueError(f"schema {data['schema']!r} tier {data['tier']!r}")
        steps = tuple(
            ModelStep(
                step=str(raw["step"]),
                ok=bool(raw["ok"]),
                skipped=bool(raw["skipped"]),
                reason=raw.get("reason"),
                error=raw.get("error"),
                seconds=float(raw.get("seconds") or 0.0),
            )
            for raw in data["steps"]
        )
        gpu = data.get("gpu") or {}
        return cls(gpu_available=bool(gpu.get("available")), gpu_name=gpu.get("name"), steps=steps)


@dataclass(frozen=True, kw_only=True)
class ModelReport:
    """Tier 3's report as the collector carried it beside tiers 1-2 (collect.py
    --with-models), read only when asked: it counts only when tiers 1-2 passed, so a broken
    stack whose tier 3 left no report reads as the broken stack it is."""

    raw: Mapping[str, Any] | None
    """The document's `models`: tier 3's report, or `{"error": ...}` saying why there is none."""
    source: str
    """Where tier 3 ran, for messages: the executor and the script."""

    def read(self) -> ModelFacts:
        if self.raw is None:
            raise BuildFailed(f"{self.source}: the collector carried no tier 3 report")
        if "error" in self.raw:
            raise BuildFailed(f"{self.source} {self.raw['error']}")
        try:
            return ModelFacts.from_dict(self.raw)
        except (ValueError, KeyError, TypeError) as error:
            raise _unusable(self.source, "the tier 3 script", error, json.dumps(self.raw)) from None


def collected(text: str, *, source: str, models: str) -> tuple[Facts, ModelReport]:
    """collect.py's document with tier 3's report inside (--with-models), parsed once:
    `source` names the collector where it ran, `models` the tier 3 script there."""
    try:
        data = json.loads(text)
        facts = Facts.from_dict(data)
    except (ValueError, KeyError, TypeError) as error:
        raise _unusable(source, "the smoke collector", error, text) from None
    raw = data.get("models")
    return facts, ModelReport(raw=raw if isinstance(raw, Mapping) else None, source=models)


@dataclass(frozen=True, kw_only=True)
class Interpreter:
    """One Python as smoke_tests/interpreters.py found it in an image (schema 1)."""

    path: str
    version: str
    environment: str
    """Its prefix and real executable: two paths of one venv are one environment."""
    holds: Mapping[str, str | None]
    """Each distribution asked about: its installed version, or None."""
    error: str | None

    @property
    def has_all(self) -> bool:
        return self.error is None and all(version is not None for version in self.holds.values())

    @classmethod
    def list_from_json(cls, text: str, *, source: str) -> list[Interpreter]:
        try:
            data = json.loads(text)
            if data["schema"] != SCHEMA:
                raise ValueError(f"schema {data['schema']!r}, expected {SCHEMA}")
            return [
                cls(
                    path=str(raw["path"]),
                    version=str(raw.get("version") or ""),
                    environment=f"{raw.get('prefix')} {raw.get('executable')}",
                    holds=dict(raw.get("found") or {}),
                    error=raw.get("error"),
                )
                for raw in data["pythons"]
            ]
        except (ValueError, KeyError, TypeError) as error:
            raise _unusable(source, "the interpreter probe", error, text) from None


def _unusable(source: str, script: str, error: Exception, output: str) -> BuildFailed:
    tail = output.strip().splitlines()[-1:] or ["no output"]
    return BuildFailed(f"{source}: {script} gave no usable facts ({error}); last output: {tail[0]}")
