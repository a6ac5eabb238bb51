"""The in-image collector, run for real against the host Python: facts out, failures contained."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

COLLECT = Path(__file__).resolve().parents[2] / "smoke_tests" / "collect.py"
RECORDED = Path(__file__).parent / "recorded" / "python-import.transformers-tokenizers.txt"
"""`import transformers` 4.51.3 beside tokenizers 0.22.2: a message of two lines, the cause
first, then a hint."""

MODULES = {
    "bad_mod": 'raise ValueError("numpy.dtype size changed")\n',
    "good_mod": "VALUE = 42\n",
    "crash_mod": "import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)\n",
    "hang_mod": "import time\nwhile True:\n    time.sleep(1)\n",
    "noisy_mod": 'import os\nprint("{not json")\nos.write(1, b"raw fd 1\\n")\n',
    "poison": 'import sys\nsys.modules["victim"] = None\n',
    "victim": "",
    "counted_mod": 'open("imports", "a").write("x")\n',
    # Fails each time, counting its tries in the working folder.
    "flaky_mod": 'open("tries", "a").write("x")\nraise ValueError("no")\n',
    # Passes once flaky_mod was tried twice (in the shared child, then alone), within 10 s.
    "waits_mod": (
        "import pathlib, time\n"
        "tries = pathlib.Path('tries')\n"
        "for _ in range(100):\n"
        "    if tries.exists() and len(tries.read_text()) >= 2:\n"
        "        break\n"
        "    time.sleep(0.1)\n"
        "else:\n"
        "    raise RuntimeError('flaky_mod was not run again meanwhile')\n"
    ),
}


@pytest.fixture
def probe_path(tmp_path: Path) -> Path:
    for name, source in MODULES.items():
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    return tmp_path


def collect(probe_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    completed = subprocess.run(
        [sys.executable, str(COLLECT), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(probe_path)},
        cwd=probe_path,
        timeout=60,
    )
    return completed.returncode, json.loads(completed.stdout) if completed.stdout else {}


def items(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["subject"]: item for item in document["items"]}


def test_import_error_is_reported_and_the_next_module_still_runs(probe_path: Path) -> None:
    code, document = collect(probe_path, "--import", "bad_mod", "--import", "good_mod")
    assert code == 0
    assert document["schema"] == 1
    bad, good = document["items"]
    assert (bad["ok"], bad["error"]) == (False, "ValueError: numpy.dtype size changed")
    assert (good["subject"], good["ok"], good["error"]) == ("good_mod", True, None)


def test_a_multi_line_import_error_is_reported_by_its_cause_not_its_hint(
    probe_path: Path,
) -> None:
    lines = RECORDED.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("ImportError: "))
    cause, message = lines[start], "\n".join(lines[start:]).removeprefix("ImportError: ")
    (probe_path / "transformers_mod.py").write_text(f"raise ImportError({message!r})\n")

    _, document = collect(probe_path, "--import", "transformers_mod")

    assert document["items"][0]["error"] == cause
    assert "tokenizers>=0.21,<0.22 is required" in cause and "Try:" not in cause


def test_crash_is_reported_and_later_items_still_run(probe_path: Path) -> None:
    _, document = collect(probe_path, "--import", "crash_mod", "--import", "good_mod")
    crash, good = document["items"]
    assert crash["ok"] is False
    assert crash["error"] == "crashed: exit code -11 / signal SIGSEGV"
    assert good["ok"] is True


def test_hang_times_out(probe_path: Path) -> None:
    _, document = collect(probe_path, "--timeout", "2", "--import", "hang_mod", "--import", "json")
    hang, after = document["items"]
    assert (hang["ok"], hang["error"]) == (False, "timed out after 2s")
    assert after["ok"] is True


def test_fact_values_are_strings_or_null(probe_path: Path) -> None:
    _, document = collect(
        probe_path, "--fact", "good_mod.VALUE", "--fact", "os.environ.get('IMAGEGATE_UNSET')"
    )
    found = items(document)
    assert found["good_mod.VALUE"]["value"] == "42"
    assert found["os.environ.get('IMAGEGATE_UNSET')"] | {"seconds": 0} == {
        "kind": "fact",
        "subject": "os.environ.get('IMAGEGATE_UNSET')",
        "code": "os.environ.get('IMAGEGATE_UNSET')",
        "ok": True,
        "value": None,
        "error": None,
        "seconds": 0,
        "isolated": False,
        "origin": None,
    }


def test_statement_reports_its_import_error(probe_path: Path) -> None:
    _, document = collect(probe_path, "--statement", "lora=from good_mod import LoraConfig")
    [item] = document["items"]
    assert (item["kind"], item["subject"], item["code"]) == (
        "statement",
        "lora",
        "from good_mod import LoraConfig",
    )
    assert item["ok"] is False
    assert item["error"].startswith("ImportError: cannot import name 'LoraConfig' from 'good_mod'")


def test_module_output_on_stdout_does_not_corrupt_the_json(probe_path: Path) -> None:
    code, document = collect(probe_path, "--import", "noisy_mod", "--import", "good_mod")
    assert code == 0
    assert [item["ok"] for item in document["items"]] == [True, True]


def test_fail_on_broken_exits_1_after_printing(probe_path: Path) -> None:
    code, document = collect(probe_path, "--fail-on-broken", "--import", "bad_mod")
    assert code == 1
    assert document["items"][0]["ok"] is False
    assert collect(probe_path, "--fail-on-broken", "--import", "good_mod")[0] == 0


def test_failure_caused_by_an_earlier_item_is_cleared_by_the_isolated_rerun(
    probe_path: Path,
) -> None:
    _, document = collect(probe_path, "--import", "poison", "--import", "victim")
    poison, victim = document["items"]
    assert (poison["ok"], poison["isolated"]) == (True, True)
    assert (victim["ok"], victim["isolated"]) == (True, True)


def test_a_failure_runs_again_alone_while_the_shared_child_goes_on(probe_path: Path) -> None:
    args = ["--import", "good_mod", "--import", "flaky_mod", "--import", "waits_mod"]
    _, document = collect(probe_path, *args)
    _, flaky, waits = document["items"]
    assert (flaky["ok"], flaky["isolated"], flaky["error"]) == (False, True, "ValueError: no")
    assert (waits["ok"], waits["isolated"]) == (True, False)  # passed in the shared child
    assert (probe_path / "tries").read_text() == "xx"


def test_tier1_lists_the_host_distributions(probe_path: Path) -> None:
    _, document = collect(probe_path, "--tiers", "1")
    assert document["items"] == []
    assert document["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert document["environment"]["sys_platform"] == sys.platform
    pytest_dist = next(d for d in document["distributions"] if d["name"] == "pytest")
    assert pytest_dist["version"] == importlib.metadata.version("pytest")
    assert {"pytest", "_pytest"} <= set(pytest_dist["top_level"])
    assert pytest_dist["requires"] == importlib.metadata.requires("pytest")


def test_top_level_without_top_level_txt_comes_from_record(probe_path: Path) -> None:
    info = probe_path / "fake_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-dist\nVersion: 1.0\n")
    record = [
        "pkg/__init__.py",
        "nvidia/cudnn/lib/loader.py",  # a namespace package: no __init__.py
        "single.py",
        "ext.cpython-311-x86_64-linux-gnu.so",
        "pkg.libs/libfoo.so",
        "bad-name/mod.py",
        "__pycache__/single.cpython-311.pyc",
        "__editable___fake_finder.py",
        "fake_dist-1.0.dist-info/METADATA",
        "../../bin/tool",
    ]
    (info / "RECORD").write_text("".join(f"{path},,\n" for path in record))
    _, document = collect(probe_path, "--tiers", "1")
    [fake] = [d for d in document["distributions"] if d["name"] == "fake-dist"]
    assert fake == {
        "name": "fake-dist",
        "version": "1.0",
        "requires": [],
        "top_level": ["ext", "nvidia", "pkg", "single"],
    }


def test_all_distributions_imports_top_levels_except_excluded(probe_path: Path) -> None:
    args = ["--tiers", "2", "--all-distributions", "--exclude", "_pytest", "--import", "pytest"]
    _, document = collect(probe_path, *args, "--quiet")
    subjects = [item["subject"] for item in document["items"]]
    assert subjects[0] == "pytest"
    assert subjects.count("pytest") == 1
    assert "_pytest" not in subjects
    assert subjects[1:] == sorted(subjects[1:])


def test_output_file_replaces_stdout(probe_path: Path) -> None:
    target = probe_path / "out" / "facts.json"
    code, printed = collect(probe_path, "--import", "good_mod", "--output", str(target))
    assert (code, printed) == (0, {})
    assert json.loads(target.read_text(encoding="utf-8"))["items"][0]["ok"] is True
    assert [path.name for path in target.parent.iterdir()] == ["facts.json"]


@pytest.mark.parametrize("bad", [["--tiers", "3"], ["--statement", "no-equals"], ["--nope"]])
def test_bad_arguments_exit_2(probe_path: Path, bad: list[str]) -> None:
    assert collect(probe_path, *bad)[0] == 2


def test_a_declared_top_level_the_wheel_does_not_ship_is_not_imported(probe_path: Path) -> None:
    """Debian's setuptools 66.1.1 wheel lists `debian` in top_level.txt and ships no such module."""
    info = probe_path / "liar-66.1.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: liar\nVersion: 66.1.1\n")
    (info / "top_level.txt").write_text("debian\ngood_mod\n")
    (info / "RECORD").write_text("good_mod.py,,\nliar-66.1.1.dist-info/METADATA,,\n")
    _, document = collect(probe_path, "--tiers", "1")
    [liar] = [d for d in document["distributions"] if d["name"] == "liar"]
    assert liar["top_level"] == ["good_mod"]


def test_a_copy_of_an_installed_package_on_pythonpath_fails_naming_it(probe_path: Path) -> None:
    """jinja2 is installed here; a copy of it in a PYTHONPATH folder imports first."""
    installed = Path(importlib.metadata.distribution("jinja2").locate_file("jinja2"))
    shutil.copytree(installed, probe_path / "jinja2")
    code, document = collect(probe_path, "--import", "jinja2", "--fail-on-broken", "--quiet")
    assert code == 1
    origin = items(document)["jinja2"]["origin"]
    assert [name.lower() for name in origin["distributions"]] == ["jinja2"]
    assert origin["foreign"] == [
        {
            "path": str(probe_path / "jinja2" / "__init__.py"),
            "entry": str(probe_path),
            "via": "PYTHONPATH",
        }
    ]
    assert document["files"]["problems"] == []  # the installed copy itself is untouched


def test_the_installed_files_are_reported_beside_the_distributions(probe_path: Path) -> None:
    code, document = collect(probe_path, "--tiers", "1", "--fail-on-broken")
    assert code == 0
    files = document["files"]
    assert files["distributions"] == len(document["distributions"])
    assert files["files"] > 100
    assert files["problems"] == []


STEP = "--model-arg=--step"
"""A tier 3 step of the test's own; no --arch but a nonexistent one, so no torch is needed."""
NO_MODELS = ["--model-arg=--arch=nosucharch", "--model-arg=--quiet"]


def test_with_models_puts_tier_3s_report_in_the_document(probe_path: Path) -> None:
    args = [*NO_MODELS, f"{STEP}=fine=import good_mod", f"{STEP}=bad=import bad_mod"]
    code, document = collect(probe_path, "--import", "good_mod", "--with-models", *args)
    assert code == 0  # without --fail-on-broken a failed step changes no exit code
    assert document["items"][0]["ok"] is True
    models = document["models"]
    assert (models["schema"], models["tier"]) == (1, 3)
    steps = {step["step"]: step for step in models["steps"]}
    assert steps["custom/fine"]["ok"] is True
    assert steps["custom/bad"]["error"] == "ValueError: numpy.dtype size changed"


def test_without_with_models_there_is_no_models_key(probe_path: Path) -> None:
    _, document = collect(probe_path, "--import", "good_mod", *NO_MODELS)
    assert "models" not in document


def test_a_failed_tier_3_step_fails_a_run_that_fails_on_broken(probe_path: Path) -> None:
    tier3 = [*NO_MODELS, "--model-arg=--fail-on-broken", f"{STEP}=bad=import bad_mod"]
    code, document = collect(probe_path, "--with-models", "--fail-on-broken", *tier3)
    assert code == 1
    assert document["models"]["steps"][-1]["step"] == "custom/bad"


def test_a_hung_tier_3_is_stopped_at_its_own_budget(probe_path: Path) -> None:
    """Its step timeout (--timeout) would be minutes; --models-timeout stops it first."""
    hang = f"{STEP}=hang=import time; time.sleep(120)"
    started = time.monotonic()
    code, document = collect(
        probe_path, "--quiet", "--with-models", "--models-timeout", "2", *NO_MODELS, hang
    )
    assert time.monotonic() - started < 30
    assert code == 0 and document["items"] == []
    assert document["models"] == {"error": "did not finish within 2s"}


def test_a_crashed_tier_3_leaves_an_error_with_its_last_words(probe_path: Path) -> None:
    crash = f"{STEP}=crash=import sys, os; print('last words', file=sys.stderr); os._exit(3)"
    code, document = collect(probe_path, "--quiet", "--with-models", *NO_MODELS, crash)
    assert code == 0
    assert document["models"] == {"error": "exited 3 without a report; last output: last words"}


def test_tier_3_is_forked_by_tier_2_and_imports_nothing_again(probe_path: Path) -> None:
    step = f"{STEP}=again=import counted_mod"
    _, document = collect(probe_path, "--import", "counted_mod", "--with-models", *NO_MODELS, step)
    assert document["items"][0]["ok"] is True
    assert [s["ok"] for s in document["models"]["steps"] if s["step"] == "custom/again"] == [True]
    assert (probe_path / "imports").read_text() == "x"  # once, in tier 2's child


def test_tier_3_starts_of_its_own_when_tier_2_crashed_before_the_fork(probe_path: Path) -> None:
    args = ["--import", "crash_mod", "--import", "good_mod", "--with-models", *NO_MODELS]
    _, document = collect(probe_path, *args, f"{STEP}=fine=import good_mod")
    assert document["items"][0]["error"].startswith("crashed")
    assert [s["ok"] for s in document["models"]["steps"] if s["step"] == "custom/fine"] == [True]


def _stopped(pid: int) -> bool:
    """Whether the process is gone (or a zombie) within 5 s."""
    for _ in range(50):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.1)
    return False


def test_a_forked_tier_3_that_hangs_or_crashes_is_reported(probe_path: Path) -> None:
    args = ["--quiet", "--import", "good_mod", "--with-models", "--models-timeout", "2"]
    hang = (
        f"{STEP}=hang=import os, time; open('hung', 'w').write(str(os.getpid())); time.sleep(120)"
    )
    started = time.monotonic()
    _, document = collect(probe_path, *args, *NO_MODELS, hang)
    assert time.monotonic() - started < 30
    assert document["models"] == {"error": "did not finish within 2s"}
    assert _stopped(int((probe_path / "hung").read_text()))  # not left sleeping
    crash = f"{STEP}=crash=import sys, os; print('last words', file=sys.stderr); os._exit(3)"
    _, document = collect(probe_path, *args, *NO_MODELS, crash)
    assert document["models"] == {"error": "exited 3 without a report; last output: last words"}


def test_a_forked_tier_3_whose_watcher_was_stopped_is_not_waited_for(probe_path: Path) -> None:
    """No --models-timeout (the Dockerfile's step passes none): its report is read once it
    has ended, though nothing recorded how."""
    stop = f"{STEP}=stop=import os, signal; os.kill(os.getppid(), signal.SIGKILL)"
    args = ["--quiet", "--import", "good_mod", "--with-models", *NO_MODELS, stop]
    started = time.monotonic()
    _, document = collect(probe_path, *args)
    assert time.monotonic() - started < 30
    assert [s["ok"] for s in document["models"]["steps"] if s["step"] == "custom/stop"] == [True]


def test_models_output_writes_tier_3s_report_to_its_file(probe_path: Path) -> None:
    target = probe_path / "out" / "models.json"
    code, document = collect(probe_path, "--models-output", str(target), *NO_MODELS)
    assert code == 0 and "models" not in document
    report = json.loads(target.read_text(encoding="utf-8"))
    assert report["steps"][0]["step"] == "gpu/device"
