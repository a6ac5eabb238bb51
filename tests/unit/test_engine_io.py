"""Reading BuildKit's plain log (the lines are BuildKit's, as `docker build` prints them)."""

from __future__ import annotations

from imagegate import engine_io

TITLE = "#7 [stack 3/8] RUN     --mount=type=bind,source=wheelhouse/cpu/protected,target=/w \\\n"
EARLIER = "#5 [stack 2/8] RUN python3 -m venv /opt/venv\n"
LATER = "#9 [stack 4/8] RUN     --mount=type=bind,source=wheelhouse/cpu/rest/idna.whl,target=/w\n"


def read(lines: list[str]) -> list[bool]:
    watch = engine_io.FirstRunning("source=wheelhouse/cpu/")
    return [watch(line) for line in lines]


def test_the_first_install_step_running_is_seen_at_its_first_output() -> None:
    log = [EARLIER, "#5 0.512 done\n", TITLE, "#7 sha256:3442bde7\n"]
    log += ["#7 0.186 Using Python 3.11.2 environment at: /opt/venv\n"]

    assert read(log) == [False, False, False, False, True]


def test_a_cached_first_install_step_is_never_seen_running() -> None:
    """A later step running (a light pin's layer) is not the first install step."""
    log = [EARLIER, "#5 CACHED\n", TITLE, "#7 CACHED\n", LATER, "#9 0.101 Using Python\n"]

    assert read(log) == [False] * len(log)
