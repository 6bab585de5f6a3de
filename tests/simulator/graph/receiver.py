"""A webhook receiver for the Graph face's tests: a real HTTP server on 127.0.0.1 (a free port)
that records every POST with its arrival time, answers Graph's validation handshake, and can be
scripted to answer slowly, with an error, or not at all, and to fail the handshake in each way.
Also the few helpers tests need to subscribe one to a simulator.

receiver = Receiver().start()
receiver.url("/notify")                        # give Graph this as notificationUrl
receiver.plan(Answer(500), Answer(500))        # the next two notification POSTs fail
receiver.always(Answer(delay_s=0.2))           # every later one answers slowly
receiver.validation = "wrong-body"             # the next handshakes fail
receiver.wait_for(lambda r: len(r.notifications()) >= 2)
"""

from __future__ import annotations

import collections
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

import httpx

from simulator import Simulator
from tests.simulator.graph.conftest import check_response
from tests.simulator.graph.csdl import check_notifications

# Handshake behaviours: echo the token (pass), or fail in one of Graph's ways.
VALIDATION_MODES = ("echo", "wrong-body", "wrong-type", "error", "slow", "hang")


@dataclass(frozen=True)
class Answer:
    """How to answer one notification POST: a status after a delay, or never (``hang``)."""

    status: int = 202
    delay_s: float = 0.0
    hang: bool = False


@dataclass
class Received:
    """One POST the receiver got: when (``time.monotonic``), where, and what."""

    at: float
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    raw: bytes
    validation: bool
    body: Any = None
    checked: bool = False
    answered: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Receiver:
    """The test's notification endpoint."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.validation = "echo"
        self.validation_delay_s = 0.0
        self._default: dict[str | None, Answer] = {None: Answer()}
        self._planned: dict[str | None, collections.deque[Answer]] = collections.defaultdict(
            collections.deque
        )
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # --- running ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The port the receiver listens on."""
        return int(self._server.server_address[1])

    def url(self, path: str = "/notify") -> str:
        """The URL of a path on the receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Self:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; hanging answers are released."""
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- scripting ----------------------------------------------------------------------------
    def always(self, answer: Answer, path: str | None = None) -> None:
        """Answer every later notification POST (to ``path``, or anywhere) this way."""
        with self._lock:
            self._default[path] = answer

    def plan(self, *answers: Answer, path: str | None = None) -> None:
        """Answer the next notification POSTs (to ``path``, or anywhere) these ways, in order."""
        with self._lock:
            self._planned[path].extend(answers)

    def _answer_for(self, path: str) -> Answer:
        with self._lock:
            for key in (path, None):
                if self._planned[key]:
                    return self._planned[key].popleft()
            return self._default.get(path) or self._default[None]

    # --- reading ------------------------------------------------------------------------------
    def posts(self, path: str | None = None) -> list[Received]:
        """The notification POSTs (not handshakes) so far, each body checked against the CSDL
        once."""
        with self._lock:
            found = [r for r in self.received if not r.validation and path in (None, r.path)]
        for record in found:
            if not record.checked:
                record.checked = True
                check_notifications(record.body)
        return found

    def notifications(self, path: str | None = None) -> list[dict[str, Any]]:
        """Every notification received (to ``path``, or anywhere), in arrival order."""
        return [n for r in self.posts(path) for n in r.body["value"]]

    def handshakes(self) -> list[Received]:
        """The validation requests so far."""
        with self._lock:
            return [r for r in self.received if r.validation]

    def wait_for(
        self, condition: Callable[[Receiver], object], timeout: float = 5.0, what: str = ""
    ) -> None:
        """Wait until ``condition(self)`` is true; AssertionError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                seen = [(r.path, r.body) for r in self.received]
                raise AssertionError(f"timed out waiting for {what or condition}; got {seen}")
            time.sleep(0.01)

    # --- serving ------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                receiver._post(self)

        return Handler

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = parse_qs(parts.query)
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        token = query.get("validationToken", [None])[0]
        record = Received(
            at=time.monotonic(),
            path=parts.path,
            query=query,
            headers={k.lower(): v for k, v in handler.headers.items()},
            raw=raw,
            validation=token is not None,
        )
        if token is None:
            record.body = json.loads(raw) if raw else None
        with self._lock:
            self.received.append(record)
        if token is not None:
            self._validate(handler, token, record)
            return
        answer = self._answer_for(parts.path)
        if answer.hang:
            self._closing.wait(30)
            return
        if answer.delay_s:
            time.sleep(answer.delay_s)
        record.answered = answer.status
        self._reply(handler, answer.status, b"", "text/plain")

    def _validate(self, handler: BaseHTTPRequestHandler, token: str, record: Received) -> None:
        mode = self.validation
        if mode == "hang":
            self._closing.wait(30)
            return
        if mode == "slow":
            time.sleep(self.validation_delay_s)
        status, body, kind = 200, token.encode(), "text/plain; charset=utf-8"
        if mode == "wrong-body":
            body = b"not-the-token"
        elif mode == "wrong-type":
            kind = "application/json"
        elif mode == "error":
            status = 500
        record.answered = status
        self._reply(handler, status, body, kind)

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:
            pass  # the simulator gave up waiting and closed the connection


# --- subscribing ------------------------------------------------------------------------------
def graph_client(sim: Simulator) -> httpx.Client:
    """An authenticated client on a simulator's Graph root, every JSON body CSDL-checked. Each
    request gets a fresh token, so tests may advance the clock past a token's lifetime. Its
    ``iat`` is real time: PyJWT, which checks the token, judges ``iat`` by the real clock."""

    def authenticate(request: httpx.Request) -> httpx.Request:
        token = sim.graph.auth.issue_token(
            sim.settings.graph.client_id, overrides={"iat": int(time.time())}
        )
        request.headers["Authorization"] = f"Bearer {token}"
        return request

    return httpx.Client(
        base_url=sim.graph_url,
        auth=authenticate,
        event_hooks={"response": [check_response]},
        timeout=30,
    )


def expiry(sim: Simulator, minutes: float) -> str:
    """An expirationDateTime ``minutes`` from now on the simulator's clock."""
    return (sim.clock.now() + timedelta(minutes=minutes)).isoformat()


def subscribe(
    graph: httpx.Client,
    sim: Simulator,
    resource: str,
    receiver: Receiver,
    *,
    change_type: str = "created,updated,deleted",
    lifecycle: bool = True,
    minutes: float = 120,
    immutable: bool = False,
    client_state: str | None = "secret-state",
    **extra: Any,
) -> httpx.Response:
    """POST /subscriptions for ``resource`` with the receiver's ``/notify`` (and ``/lifecycle``)."""
    body: dict[str, Any] = {
        "changeType": change_type,
        "notificationUrl": receiver.url("/notify"),
        "resource": resource,
        "expirationDateTime": expiry(sim, minutes),
    }
    if client_state is not None:
        body["clientState"] = client_state
    if lifecycle:
        body["lifecycleNotificationUrl"] = receiver.url("/lifecycle")
    body.update(extra)
    headers = {"Prefer": 'IdType="ImmutableId"'} if immutable else {}
    return graph.post("/subscriptions", json=body, headers=headers)
