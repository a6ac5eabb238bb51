"""Every Docker SDK call ends in one line that names the operation and the image, exit 3.

The daemon here is a small HTTP server on 127.0.0.1 that speaks just enough of Docker's API
to get a command to the call under test, then answers as a failing daemon does: a 500 on
container creation, a pull whose stream is cut, or no answer at all. No engine is needed.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from imagegate import base
from imagegate.engine import PROBE_TIMEOUT, Engine
from imagegate.errors import EnvironmentProblem, ExitCode, UsageError
from imagegate.profiles import load_profile

from .conftest import ROOT, imagegate

IMAGE = "fake.registry:5000/team/img:v1"
Route = Callable[[BaseHTTPRequestHandler], None]


def _json(handler: BaseHTTPRequestHandler, status: int, body: object) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _cut_stream(handler: BaseHTTPRequestHandler) -> None:
    """A pull that starts to stream progress and then loses its connection."""
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    line = b'{"status":"Downloading","progress":"[=>   ] 12MB/4.1GB"}\r\n'
    handler.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
    handler.wfile.write(b"ffff\r\npartial")
    handler.wfile.flush()
    handler.connection.shutdown(socket.SHUT_RDWR)


BASICS: dict[str, Route] = {
    "GET /_ping": lambda h: _json(h, 200, "OK"),
    "GET /version": lambda h: _json(h, 200, {"ApiVersion": "1.45", "Version": "fake"}),
    "GET /info": lambda h: _json(h, 200, {"Runtimes": {"runc": {}}}),
    "GET /images/{}/json": lambda h: _json(
        h, 200, {"Id": "sha256:" + "0" * 64, "Size": 1, "Config": {"Labels": {}}}
    ),
}
_VERSIONED = re.compile(r"^/v[0-9.]+")


def _route(method: str, path: str, routes: dict[str, Route]) -> Route | None:
    path = _VERSIONED.sub("", path.split("?")[0])
    for key, route in routes.items():
        want_method, want_path = key.split(" ", 1)
        pattern = re.escape(want_path).replace(re.escape("{}"), ".+")
        if method == want_method and re.fullmatch(pattern, path):
            return route
    return None


@pytest.fixture
def daemon() -> Iterator[Callable[[dict[str, Route]], str]]:
    """Start a fake daemon with extra routes; its DOCKER_HOST."""
    servers: list[ThreadingHTTPServer] = []

    def start(extra: dict[str, Route]) -> str:
        routes = {**extra, **{k: v for k, v in BASICS.items() if k not in extra}}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                route = _route(self.command, self.path, routes)
                if route is None:
                    _json(self, 404, {"message": f"fake daemon: no route {self.path}"})
                else:
                    route(self)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *_: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"tcp://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def silent_daemon() -> Iterator[str]:
    """A socket that accepts connections and never answers: a stuck dockerd."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_a_daemon_that_never_answers_fails_the_probe_in_seconds(silent_daemon: str) -> None:
    started = time.monotonic()
    run = imagegate("verify", "cpu", env={"DOCKER_HOST": silent_daemon})
    took = time.monotonic() - started

    assert run.code == ExitCode.ENVIRONMENT
    line = one_line(run.stderr)
    assert silent_daemon in line and f"did not answer within {PROBE_TIMEOUT} s" in line
    assert took < 15, f"the probe took {took:.0f} s"


def test_a_port_nobody_listens_on_is_unreachable_not_slow() -> None:
    """The control: a refused connection is said to be refused, not waited for."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        host = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
        run = imagegate("verify", "cpu", env={"DOCKER_HOST": host})

    assert run.code == ExitCode.ENVIRONMENT
    line = one_line(run.stderr)
    assert host in line and "is not reachable" in line and "did not answer" not in line


def test_a_failed_container_creation_is_one_line(daemon: Callable[..., str]) -> None:
    host = daemon(
        {"POST /containers/create": lambda h: _json(h, 500, {"message": "OCI runtime broke"})}
    )
    run = imagegate("verify", "cpu", "--image", IMAGE, env={"DOCKER_HOST": host})

    assert run.code == ExitCode.ENVIRONMENT
    line = one_line(run.stderr)
    assert IMAGE in line and "cannot" in line and "OCI runtime broke" in line


def test_labelling_when_creation_fails_is_one_line(
    daemon: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    host = daemon(
        {"POST /containers/create": lambda h: _json(h, 500, {"message": "no space left"})}
    )
    monkeypatch.setenv("DOCKER_HOST", host)

    with pytest.raises(EnvironmentProblem) as raised:
        Engine().label(IMAGE, f"{IMAGE}-gated", {"a": "b"})
    message = str(raised.value)
    assert message.startswith(f"{IMAGE}: cannot tag it as {IMAGE}-gated")
    assert "no space left" in message and "\n" not in message


def test_a_pull_cut_off_midway_is_one_line(
    daemon: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", daemon({"POST /images/create": _cut_stream}))

    with pytest.raises(EnvironmentProblem) as raised:
        Engine().pull(IMAGE)
    message = str(raised.value)
    assert message.startswith(f"{IMAGE}: cannot pull it (") and "\n" not in message


def test_a_pull_the_registry_refuses_is_a_reason(
    daemon: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The control: a refusal is an answer `base.choose` acts on, not an error."""
    refuse = {"POST /images/create": lambda h: _json(h, 404, {"message": "manifest unknown"})}
    monkeypatch.setenv("DOCKER_HOST", daemon(refuse))

    assert Engine().pull(IMAGE) == "manifest unknown"


def test_a_digest_cannot_name_a_new_tag(
    daemon: Callable[..., str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", daemon({}))
    with pytest.raises(UsageError, match="digest"):
        Engine().import_rootfs(tmp_path / "x.tar", f"img@sha256:{'0' * 64}", [])


def test_a_base_image_override_outside_the_grammar_is_bad_input(
    daemon: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_HOST", daemon({}))
    profile = load_profile("cpu", ROOT / "profiles")
    with pytest.raises(UsageError, match=r"^--base-image: 'python:3.11\\nRUN x' is not an image"):
        base.choose(profile, Engine(), override="python:3.11\nRUN x")
