"""Profiles: the single source of truth for what an image must hold.

A profile file may `extends:` another: NAME.yaml beside it, else the profile of that name
shipped with imagegate (`shipped`), so a project of one's own holds only its own profiles.
Files whose name starts with `_` hold shared pins and are never built themselves. Mappings
merge key by key (a null removes an inherited key), lists and scalars replace. Each file is
checked on its own first, so an error names the file that holds the mistake.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from imagegate.errors import ProfileError
from imagegate.profile_schema import check_file
from imagegate.profile_yaml import read_yaml
from imagegate.shipped import shipped_names, shipped_profiles
from imagegate.target import Target

SHARED_PREFIX = "_"
PROFILE_SUFFIX = ".yaml"
_NAME = re.compile(r"\w[\w.-]*")
DEFAULT_TIMEOUT = 120.0


@dataclass(frozen=True, kw_only=True)
class Base:
    image: str
    packages: tuple[str, ...] = ()
    """Debian packages the Dockerfile adds when the base lacks Python."""
    local: str | None = None
    """Debian suite from which `imagegate base` makes a stand-in when `image` can't be pulled."""


@dataclass(frozen=True, kw_only=True)
class Hardware:
    """The GPUs a profile's wheels run on: what `imagegate detect` matches against."""

    vendor: str = "none"
    """nvidia, amd, or none (a CPU build)."""
    architectures: tuple[str, ...] = ()
    """CUDA compute capabilities (sm_80) or ROCm gfx targets (gfx942) the wheels support."""
    min_driver: str | None = None
    """The oldest driver that runs the profile's CUDA/ROCm runtime."""

    @property
    def arch_fact(self) -> str | None:
        """The fact that lists what the installed torch was compiled for; it needs no GPU."""
        return ARCH_FLAGS if self.vendor == "nvidia" and self.architectures else None


ARCH_FLAGS = "torch._C._cuda_getArchFlags()"
HOSTED_RUNNER = ("ubuntu-latest",)
"""GitHub's hosted runner: no GPU, so GPU steps can only be SKIPPED there."""


@dataclass(frozen=True, kw_only=True)
class Ci:
    """Where the profile's CI job runs (`imagegate matrix`), and what it must prove there."""

    runner: tuple[str, ...] = HOSTED_RUNNER
    """The labels of the runner (GitHub's `runs-on`), e.g. ("self-hosted", "gpu")."""
    require_gpu: bool = False
    """Verify with `--require-gpu`: tier 3's GPU steps fail instead of being SKIPPED."""


COLD_STARTS = 3
"""Cold starts timed per worker image unless the profile says (`worker.cold_starts`)."""


@dataclass(frozen=True, kw_only=True)
class WorkerBudget:
    """What a RunPod worker built from the profile may cost a cold start (tier 4)."""

    max_size_gb: float | None = None
    """The image compressed, as a registry stores it, in GB (10^9 bytes)."""
    max_cold_start_s: float | None = None
    """Seconds from the container's start to the handler's first answer (the median of
    `cold_starts` runs)."""
    cold_starts: int = COLD_STARTS
    """How many cold starts are timed (each a container started anew)."""


@dataclass(frozen=True, kw_only=True)
class Probes:
    imports: tuple[str, ...] = ()
    statements: Mapping[str, str] = field(default_factory=dict)
    exclude: Mapping[str, str] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT
    models: tuple[str, ...] = ()
    """Tier 3: tiny models of these architectures are built, saved, loaded and run."""
    steps: Mapping[str, str] = field(default_factory=dict)
    """Tier 3: the profile's own steps (e.g. an application import), each run as code."""


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str
    path: Path
    description: str
    target: Target
    base: Base
    indexes: Mapping[str, str]
    sources: Mapping[NormalizedName, str]
    pins: Mapping[NormalizedName, Version]
    protected: tuple[NormalizedName, ...]
    invariants: Mapping[NormalizedName, SpecifierSet]
    facts: Mapping[str, str]
    probes: Probes
    hardware: Hardware = field(default_factory=Hardware)
    ci: Ci = field(default_factory=Ci)
    allow_extra: Mapping[NormalizedName, str] = field(default_factory=dict)
    """Distributions an image may hold beyond its lock (pip, a base's own tools), each
    with the reason it is allowed."""
    worker: WorkerBudget = field(default_factory=WorkerBudget)
    index: str | None = None
    """The profile's own default index: every package not sourced from one of `indexes`
    comes from it, in place of PyPI and the user's pip sources; its wheels are locked with
    their URLs."""
    repository: str | None = None
    """Where the profile's images are tagged (`REPOSITORY/NAME:latest`) unless
    $IMAGEGATE_REPOSITORY or a command's --tag says otherwise."""

    def requirements(self, *, protected_only: bool = False) -> list[str]:
        """Exact requirement lines (`name==version`, local label included) for pip."""
        names = self.protected if protected_only else sorted(self.pins)
        return [f"{name}=={self.pins[name]}" for name in names]

    def index_for(self, package: NormalizedName) -> str | None:
        source = self.sources.get(package)
        return None if source is None else self.indexes[source]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, name: str, path: Path) -> Profile:
        """Build from a merged, schema-checked mapping; cross-key rules are checked here."""
        for key in ("target", "base", "pins"):
            if not data.get(key):
                raise ProfileError(f"{path}: {key}: missing (neither here nor in a parent); add it")
        for key in ("python", "platform"):
            if key not in data["target"]:
                raise ProfileError(f"{path}: target.{key}: missing; add it")
        if "image" not in data["base"]:
            raise ProfileError(f"{path}: base.image: missing; add it")
        pins = {canonicalize_name(k): Version(v) for k, v in _live(data.get("pins")).items()}
        indexes = dict(_live(data.get("indexes")))
        sources = {canonicalize_name(k): v for k, v in _live(data.get("sources")).items()}
        for package, index in sources.items():
            if index not in indexes:
                raise ProfileError(
                    f"{path}: sources.{package}: no index named {index!r} under indexes; add it"
                )
        protected = tuple(canonicalize_name(n) for n in data.get("protected") or ())
        for package in protected:
            if package not in pins:
                raise ProfileError(
                    f"{path}: protected: {package!r} is not pinned; pin it under pins"
                )
        probes = data.get("probes") or {}
        hardware = data.get("hardware") or {}
        ci = Ci(
            runner=tuple((data.get("ci") or {}).get("runner") or HOSTED_RUNNER),
            require_gpu=bool((data.get("ci") or {}).get("require_gpu")),
        )
        if ci.require_gpu and ci.runner == HOSTED_RUNNER:
            raise ProfileError(
                f"{path}: ci.require_gpu: {HOSTED_RUNNER[0]} has no GPU; name a GPU runner "
                "under ci.runner (e.g. [self-hosted, gpu]) or remove require_gpu"
            )
        base, worker = data["base"], data.get("worker") or {}
        return cls(
            name=name,
            path=path,
            description=str(data.get("description") or ""),
            repository=data.get("repository"),
            index=data.get("index"),
            target=Target(python=data["target"]["python"], platform=data["target"]["platform"]),
            base=Base(
                image=base["image"],
                packages=tuple(base.get("packages") or ()),
                local=base.get("local"),
            ),
            indexes=indexes,
            sources=sources,
            pins=pins,
            protected=protected,
            invariants={
                canonicalize_name(k): SpecifierSet(v)
                for k, v in _live(data.get("invariants")).items()
            },
            facts={k: str(v) for k, v in _live(data.get("facts")).items()},
            allow_extra={
                canonicalize_name(k): str(v) for k, v in _live(data.get("allow_extra")).items()
            },
            hardware=Hardware(
                vendor=str(hardware.get("vendor") or "none"),
                architectures=tuple(hardware.get("architectures") or ()),
                min_driver=hardware.get("min_driver"),
            ),
            ci=ci,
            worker=WorkerBudget(
                max_size_gb=worker.get("max_size_gb"),
                max_cold_start_s=worker.get("max_cold_start_s"),
                cold_starts=int(worker.get("cold_starts") or COLD_STARTS),
            ),
            probes=Probes(
                imports=tuple(probes.get("imports") or ()),
                statements=dict(_live(probes.get("statements"))),
                exclude=dict(_live(probes.get("exclude"))),
                timeout=float(probes.get("timeout") or DEFAULT_TIMEOUT),
                models=tuple(probes.get("models") or ()),
                steps=dict(_live(probes.get("steps"))),
            ),
        )


def _live(mapping: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (mapping or {}).items() if v is not None}


def profile_names(directory: Path) -> list[str]:
    """The buildable profiles in `directory` (shared `_*.yaml` files are not)."""
    if not directory.is_dir():
        raise ProfileError(f"{directory}: no such profiles directory; pass --profiles DIR")
    return sorted(
        p.stem for p in directory.glob(f"*{PROFILE_SUFFIX}") if not p.stem.startswith(SHARED_PREFIX)
    )


def profile_name(value: str, directory: Path) -> str:
    """The profile a command-line value names: a name, or a path to NAME.yaml (or NAME)
    inside `directory`, so that a shell's completion `profiles/cpu.yaml` means `cpu`.

    A path is taken from the current directory; a bare `NAME.yaml` is also looked for in
    `directory`. Anything else is refused rather than read from outside the project.
    """
    if _NAME.fullmatch(value) and not value.endswith(PROFILE_SUFFIX):
        return value
    path = Path(value)
    if path.name not in ("", ".", ".."):
        if path.suffix != PROFILE_SUFFIX:
            path = path.parent / f"{path.name}{PROFILE_SUFFIX}"
        candidates = [path] if "/" in value else [path, directory / path]
        for candidate in candidates:
            if candidate.is_file() and candidate.parent.resolve() == directory.resolve():
                return candidate.stem
    known = ", ".join(profile_names(directory)) or "none"
    raise ProfileError(
        f"{value!r}: not a profile in {directory} (known: {known}); name one, "
        f"or give the path of its {PROFILE_SUFFIX} file there"
    )


def load_profile(name: str, directory: Path) -> Profile:
    name = profile_name(name, directory)
    path = directory / f"{name}{PROFILE_SUFFIX}"
    if name.startswith(SHARED_PREFIX) and path.is_file():
        raise ProfileError(
            f"{path}: holds shared settings that profiles extend and is not built itself; "
            f"pick one of: {', '.join(profile_names(directory))}"
        )
    if not path.is_file():
        known = ", ".join(profile_names(directory)) or "none"
        raise ProfileError(
            f"{directory}: no profile {name!r} (known: {known}); pick one or add {path}"
        )
    chain = _chain(path)
    merged: dict[str, Any] = {}
    for _, raw in reversed(chain):
        merged = _merge(merged, raw)
    merged.pop("extends", None)
    return Profile.from_dict(merged, name=name, path=path)


def pin_file(profile: Profile, package: NormalizedName) -> Path:
    """The file of the profile's `extends` chain that writes the pin it gets (the nearest):
    where a change to that pin belongs."""
    for path, raw in _chain(profile.path):
        if (raw.get("pins") or {}).get(package) is not None:
            if path.parent != profile.path.parent:
                raise ProfileError(
                    f"{profile.path}: pins.{package}: written by the shipped profile "
                    f"{path.stem!r}, which comes with imagegate; pin it in {profile.path.name}"
                )
            return path
    raise ProfileError(f"{profile.path}: pins.{package}: not pinned in the profile or its parents")


def load_each(names: Iterable[str], directory: Path) -> dict[str, Profile | ProfileError]:
    """Each profile named, once and in first-seen order, or why it can't be loaded.

    One bad file spoils only itself: a command over many profiles reports it and goes on.
    """
    loaded: dict[str, Profile | ProfileError] = {}
    for value in names:
        try:
            name = profile_name(value, directory)
        except ProfileError as error:
            loaded.setdefault(value, error)
            continue
        if name not in loaded:
            try:
                loaded[name] = load_profile(name, directory)
            except ProfileError as error:
                loaded[name] = error
    return loaded


def load_profiles(names: Iterable[str], directory: Path) -> list[Profile]:
    """Each profile named, once; the first that can't be loaded raises its error."""
    profiles: list[Profile] = []
    for loaded in load_each(names, directory).values():
        if isinstance(loaded, ProfileError):
            raise loaded
        profiles.append(loaded)
    return profiles


def _chain(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The file and each parent in turn, each read and schema-checked."""
    chain: list[tuple[Path, dict[str, Any]]] = []
    seen: list[str] = []
    current = path
    while True:
        seen.append(current.stem)
        raw = read_yaml(current)
        check_file(raw, current)
        chain.append((current, _canonical_packages(raw, current)))
        parent = raw.get("extends")
        if parent is None:
            return chain
        if parent in seen:
            cycle = " -> ".join([*seen, parent])
            raise ProfileError(f"{current}: extends: circular chain {cycle}; remove one 'extends'")
        current = _parent(current, parent)


def _parent(child: Path, name: str) -> Path:
    """The file `extends: NAME` in `child` means: NAME.yaml beside `child` (in the project's
    profiles folder, or among the shipped ones for a shipped file), else the shipped one."""
    here = child.parent
    for folder in (here, shipped_profiles()):
        if (candidate := folder / f"{name}{PROFILE_SUFFIX}").is_file():
            return candidate
    shipped = ", ".join(shipped_names())
    raise ProfileError(
        f"{child}: extends: no profile {name!r} in {here} nor among the shipped ones "
        f"({shipped}); fix the name"
    )


PACKAGE_KEYED = ("pins", "sources", "invariants", "allow_extra")
"""Sections keyed by package name: `NumPy` and `numpy` are one key, in a file and across files."""


def _canonical_packages(raw: dict[str, Any], path: Path) -> dict[str, Any]:
    result = dict(raw)
    for section in PACKAGE_KEYED:
        if not isinstance(raw.get(section), Mapping):
            continue
        names: dict[str, str] = {}
        for key in raw[section]:
            name = canonicalize_name(str(key))
            if name in names:
                raise ProfileError(
                    f"{path}: {section}.{key}: the same package as {names[name]!r}; keep one"
                )
            names[name] = str(key)
        result[section] = {canonicalize_name(str(k)): v for k, v in raw[section].items()}
    return result


def _merge(parent: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(parent)
    for key, value in child.items():
        inherited = merged.get(key)
        if isinstance(value, Mapping) and isinstance(inherited, Mapping):
            merged[key] = _merge(inherited, value)
        else:
            merged[key] = value
    return merged
