"""propose's planning: which releases are tried, how a pin line is edited, what is written."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from imagegate.errors import ProfileError
from imagegate.findings import Status
from imagegate.propose import Bump, Candidate, best, candidates, ranked, set_pins, together

V = Version


def test_candidates_are_the_newest_and_the_newest_patch_of_the_current_minor() -> None:
    available = [V(v) for v in ("1.15.0", "1.14.0", "1.6.3", "1.6.2", "1.6.0", "1.5.9", "2.0rc1")]
    assert candidates(V("1.6.0"), available) == [V("1.15.0"), V("1.6.3")]
    assert candidates(V("1.15.0"), available) == []
    assert candidates(V("1.6.3"), available) == [V("1.15.0")]


def test_a_local_build_only_moves_to_the_same_flavour() -> None:
    available = [V("2.14.1"), V("2.14.0+cpu"), V("2.13.1+cpu"), V("2.13.0+cpu")]
    assert candidates(V("2.13.0+cpu"), available) == [V("2.14.0+cpu"), V("2.13.1+cpu")]


COMMON = """\
# shared pins
pins:
  transformers: "4.51.3"   # the user's pin
  Peft: '0.13.2'
  accelerate: 1.6.0
protected: [torch]
invariants:
  numpy: "<2"
"""


def test_set_pins_changes_only_the_pin_lines_keeping_quotes_and_comments() -> None:
    changes = {
        canonicalize_name("transformers"): V("4.52.0"),
        canonicalize_name("peft"): V("0.21.2"),
    }
    text = set_pins(COMMON, changes, Path("_common.yaml"))
    before, after = COMMON.splitlines(), text.splitlines()
    assert [i for i, (a, b) in enumerate(zip(before, after, strict=True)) if a != b] == [2, 3]
    assert after[2] == '  transformers: "4.52.0"   # the user\'s pin'
    assert after[3] == "  Peft: '0.21.2'"


def test_set_pins_leaves_other_sections_alone_and_refuses_what_it_cannot_find() -> None:
    with pytest.raises(ProfileError, match=r"_common.yaml: pins.numpy"):
        set_pins(COMMON, {canonicalize_name("numpy"): V("2.0")}, Path("_common.yaml"))
    flow = 'pins: {accelerate: "1.6.0"}\n'
    with pytest.raises(ProfileError, match=r"pins\.accelerate"):
        set_pins(flow, {canonicalize_name("accelerate"): V("1.15.0")}, Path("x.yaml"))


def _candidate(package: str, old: str, new: str, **stages: Status) -> Candidate:
    bump = Bump(package=canonicalize_name(package), current=V(old), version=V(new))
    return Candidate(bumps=(bump,), **stages)  # type: ignore[arg-type]


def test_best_takes_the_newest_proven_version_of_each_package() -> None:
    ok = {"static": Status.OK, "deep": Status.OK}
    found = [
        _candidate("accelerate", "1.6.0", "1.6.3", **ok),
        _candidate("accelerate", "1.6.0", "1.15.0", **ok),
        _candidate("peft", "0.13.2", "0.21.2", static=Status.OK, deep=Status.BROKEN),
        _candidate("numpy", "1.26.4", "2.4.6", static=Status.BROKEN),
    ]
    assert [(b.package, b.version) for b in best(found)] == [("accelerate", V("1.15.0"))]
    assert [c.package for c in ranked(found)][:2] == ["accelerate", "accelerate"]
    assert ranked(found)[0].bumps[0].version == V("1.15.0")


def test_only_candidates_that_name_each_other_are_tried_together() -> None:
    peft = _candidate("peft", "0.13.2", "0.21.2", static=Status.BROKEN)
    transformers = _candidate("transformers", "4.51.3", "4.57.1", static=Status.BROKEN)
    accelerate = _candidate("accelerate", "1.6.0", "1.15.0", static=Status.BROKEN)
    peft = Candidate(bumps=peft.bumps, static=Status.BROKEN, evidence="needs transformers>=4.57")
    transformers = Candidate(
        bumps=transformers.bumps, static=Status.BROKEN, evidence="peft<0.14 needs transformers<4.52"
    )
    accelerate = Candidate(bumps=accelerate.bumps, static=Status.BROKEN, evidence="peft-ish")
    assert together([peft, transformers, accelerate]) == [(peft, transformers)]
