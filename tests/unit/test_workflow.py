"""Tier 3 judged in `verify_image` the same wherever its report came from: collected beside
tiers 1-2 (`smoke.collect_all`), it counts only when they passed, so a broken stack whose tier 3
left no report reads as it did when tier 3 ran after them, in a container of its own."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import pytest

from imagegate.engine import Engine
from imagegate.errors import BuildFailed
from imagegate.executors import Container
from imagegate.facts import ModelReport, collected
from imagegate.findings import Finding, Status
from imagegate.profiles import load_profile
from imagegate.workflow import _models

SHIPPED = Path(__file__).resolve().parents[2] / "profiles"
RECORDED = Path(__file__).parent / "recorded"
CPU = load_profile("cpu", SHIPPED)
NOWHERE = Container(cast(Engine, None), "sha256:0", "/opt/venv/bin/python")
"""No container is started when the report was collected beside tiers 1-2."""
PASSED = [Finding(tier=2, check="import", subject="torch", status=Status.OK)]
FAILED = [Finding(tier=2, check="import", subject="torch", status=Status.BROKEN)]


def beside(name: str) -> ModelReport:
    text = (RECORDED / f"collect.{name}.json").read_text(encoding="utf-8")
    return collected(text, source="img: collect.py", models="img: tier3_model.py")[1]


@pytest.mark.parametrize("name", ["with-models", "tier3-timed-out", "tier3-crashed"])
def test_after_failed_tiers_tier_3_is_one_skipped_row_whatever_its_report(name: str) -> None:
    [row] = _models(CPU, NOWHERE, FAILED, False, beside(name))
    assert row == Finding(
        tier=3,
        check="model",
        subject="tier 3",
        status=Status.SKIPPED,
        evidence="not run: tiers 1-2 failed",
    )


def test_after_passed_tiers_the_report_beside_them_is_judged() -> None:
    rows = {
        row.subject: row.status
        for row in _models(CPU, NOWHERE, PASSED, False, beside("with-models"))
    }
    assert rows["gpt2/generate"] == rows["llama/lora"] == Status.OK
    assert rows["gpu/device"] == Status.SKIPPED


def test_after_passed_tiers_a_missing_report_fails_as_a_missing_one_did() -> None:
    with pytest.raises(BuildFailed, match=r"^img: tier3_model.py did not finish within 2s$"):
        _models(CPU, NOWHERE, PASSED, False, beside("tier3-timed-out"))
