"""The collector's document read on the host, tier 3's report inside it or not (`--with-models`).

The documents were recorded in imagegate's cpu image (torch 2.13.0+cpu) by collect.py with
the cpu profile's arguments and tier 3 beside it (`smoke.collect_all`'s), then trimmed to two
distributions and three items: as it passed, with tier 3 stopped at `--models-timeout 2`, and
with a step of tier 3's that killed its own process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagegate.errors import BuildFailed
from imagegate.facts import Facts, ModelFacts, collected

RECORDED = Path(__file__).parent / "recorded"
SOURCE, MODELS = "img: collect.py", "img: tier3_model.py"


def recorded(name: str) -> str:
    return (RECORDED / f"collect.{name}.json").read_text(encoding="utf-8")


def test_a_document_with_models_gives_the_facts_and_tier_3s_report() -> None:
    facts, report = collected(recorded("with-models"), source=SOURCE, models=MODELS)
    assert facts.python_version == "3.11.2"
    assert facts.distributions["torch"].version == "2.13.0+cpu"
    assert [item.subject for item in facts.items] == ["torch", "peft-lora", "torch.version.cuda"]
    models = report.read()
    assert isinstance(models, ModelFacts) and not models.gpu_available
    steps = {step.step: step for step in models.steps}
    assert steps["gpt2/lora"].ok and steps["llama/generate"].ok
    assert steps["gpu/device"].skipped and steps["gpu/device"].reason == "no GPU"


def test_the_facts_read_alike_with_or_without_models() -> None:
    """A plain collector run is the same document less `models`: both readers agree on it."""
    document = json.loads(recorded("with-models"))
    del document["models"]
    plain = json.dumps(document)
    assert (
        Facts.from_json(plain, source=SOURCE) == collected(plain, source=SOURCE, models=MODELS)[0]
    )
    assert Facts.from_json(recorded("with-models"), source=SOURCE) == Facts.from_json(
        plain, source=SOURCE
    )


def test_a_document_without_models_fails_only_when_tier_3_is_read() -> None:
    document = json.loads(recorded("with-models"))
    del document["models"]
    facts, report = collected(json.dumps(document), source=SOURCE, models=MODELS)
    assert facts.distributions["numpy"].version == "1.26.4"
    with pytest.raises(BuildFailed, match=f"^{MODELS}: the collector carried no tier 3 report$"):
        report.read()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("tier3-timed-out", f"{MODELS} did not finish within 2s"),
        ("tier3-crashed", f"{MODELS} exited -9 without a report; last output: "),
    ],
)
def test_a_missing_tier_3_report_leaves_the_facts_and_fails_when_read(
    name: str, message: str
) -> None:
    facts, report = collected(recorded(name), source=SOURCE, models=MODELS)
    assert facts.distributions["torch"].version == "2.13.0+cpu"
    with pytest.raises(BuildFailed) as raised:
        report.read()
    assert str(raised.value).startswith(message)


def test_a_malformed_tier_3_report_names_the_script() -> None:
    document = json.loads(recorded("with-models"))
    document["models"]["tier"] = 2
    _, report = collected(json.dumps(document), source=SOURCE, models=MODELS)
    with pytest.raises(BuildFailed, match=f"^{MODELS}: the tier 3 script gave no usable facts"):
        report.read()


def test_a_collector_with_no_usable_document_fails_as_the_collector() -> None:
    with pytest.raises(BuildFailed, match=f"^{SOURCE}: the smoke collector gave no usable facts"):
        collected("Traceback (most recent call last):\n", source=SOURCE, models=MODELS)
