"""Server time of the archive's reads at scale, for ``archive_bench``: folder pages (first and
deep), a folder sorted by each of the UI's columns, searches (the mailbox's and a folder's), the
folder tree and the whole web UI page, on a mailbox loaded by ``archive_scale``.

"Server time" is measured inside the archive's process by an ASGI middleware added outermost to
the app (inside only Starlette's error handler): from the request reaching the app to the last
byte of its response body being handed back to uvicorn. It holds the session and guard
middleware, routing, the queries, the JSON or the Jinja2 page; it leaves out the HTTP parsing,
the socket and the client (httpx in this process, which idles while the server works). The
round trip is printed beside it, for comparison.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx
from pydantic import SecretStr
from sqlalchemy import Engine, func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from archive.accounts import add_token, add_user
from archive.browse.ordering import Order
from archive.settings import ArchiveSettings
from archive.store.engine import open_engine
from archive.store.tables import mailboxes, messages
from archive.web.app import create_app
from benchmarks import archive_scale as scale
from tests.archive.server import ThreadedServer

BOX = scale.BOX
API = f"/api/v1/mailboxes/{BOX}"
UI = f"/mailbox/{BOX}"
PASSWORD = "benchmark password"  # noqa: S105 - a throwaway local user
GOAL_MS = 50.0
SORTS = ("sender", "subject", "-size", "received")


class ServerClock:
    """ASGI middleware: appends each request's server time (ms) to ``times``."""

    def __init__(self, app: ASGIApp, times: list[float]) -> None:
        self.app = app
        self.times = times

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time one request; the time is taken before the last body is sent, so a client never
        sees a response before its time is recorded."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.times.append((time.perf_counter() - started) * 1000)
            await send(message)

        await self.app(scope, receive, timed)


@dataclass
class Served:
    """The archive being measured: its address, its engine, an ingest token and the times."""

    url: str
    engine: Engine
    token: str
    times: list[float]


@contextmanager
def served(database_url: str) -> Iterator[Served]:
    """The archive on ``database_url``, served by uvicorn in this process, timed."""
    settings = ArchiveSettings(database_url=SecretStr(database_url), cookie_secure=False)
    engine = open_engine(database_url)
    app = create_app(settings, engine, purge=False)
    times: list[float] = []
    app.add_middleware(ServerClock, times=times)
    server = ThreadedServer(app)
    server.start()
    add_user(engine, BOX, PASSWORD, admin=False, mailboxes=[])
    try:
        yield Served(server.url, engine, add_token(engine, "bench"), times)
    finally:
        server.stop()
        engine.dispose()


class Latency(NamedTuple):
    """Server time p50 and p95, round-trip p95 (ms), and how many requests."""

    p50: float
    p95: float
    trip95: float
    rounds: int


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def measure(client: httpx.Client, times: list[float], requests: list[tuple[str, dict[str, Any]]],
            rounds: int = 100, budget_s: float = 20.0) -> Latency:
    """Send ``requests`` in turn (after 3 unmeasured ones) ``rounds`` times, or fewer (at least
    10) once ``budget_s`` is spent."""
    for path, params in requests[:3]:
        client.get(path, params=params).raise_for_status()
    server, trips = [], []
    deadline = time.monotonic() + budget_s
    for n in range(rounds):
        path, params = requests[n % len(requests)]
        started = time.perf_counter()
        client.get(path, params=params).raise_for_status()
        trips.append((time.perf_counter() - started) * 1000)
        server.append(times[-1])
        if n >= 9 and time.monotonic() > deadline:
            break
    return Latency(statistics.median(server), percentile(server, 0.95), percentile(trips, 0.95),
                   len(server))


def deep_cursors(engine: Engine, order: Order, folder: str, count: int = 20) -> list[str]:
    """Cursors of ``count`` pages spread over the folder (positions past the first 1,000)."""
    t = messages
    with engine.connect() as conn:
        box = conn.execute(select(mailboxes.c.id).where(mailboxes.c.address == BOX)).scalar_one()
        total = conn.execute(select(func.count()).where(
            t.c.mailbox_id == box, t.c.last_known_folder_key == folder)).scalar_one()
        positions = random.Random(3).sample(range(min(1000, total // 2), total - 60), count)  # noqa: S311
        cursors = []
        for at in positions:
            key, ident = conn.execute(
                select(order.key(t), t.c.id)
                .where(t.c.mailbox_id == box, t.c.last_known_folder_key == folder)
                .order_by(*order.by(t, t.c.id)).offset(at).limit(1)
            ).one()
            cursors.append(order.encode(key, ident))
    return cursors


def plan(engine: Engine, folder: str = "inbox") -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """What is measured: a name and the requests sent for it (several: pages picked in turn)."""
    f = {"folder": folder}
    out: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "folder: first page (50)": [(f"{API}/messages", f)],
    }
    for sort in SORTS:
        order = Order.parse(sort)
        params = f if order.is_default else {**f, "sort": sort}
        out[f"folder by {sort}: first page"] = [(f"{API}/messages", params)]
        cursors = deep_cursors(engine, order, folder)
        out[f"folder by {sort}: deep page"] = [
            (f"{API}/messages", {**params, "cursor": c}) for c in cursors
        ]
    out["folder, newest first: deep page"] = [
        (f"{API}/messages", {**f, "cursor": c}) for c in deep_cursors(engine, Order(), folder)
    ]
    out["folder tree with counts"] = [(f"{API}/folders", {})]
    for word in (scale.COMMON, scale.RARE):
        kind = "common" if word == scale.COMMON else "rare"
        out[f"search mailbox: {kind} word"] = [(f"{API}/search", {"q": word})]
        out[f"search folder: {kind} word"] = [(f"{API}/messages", {**f, "q": word})]
    deep = out["folder, newest first: deep page"]
    out["UI page: folder"] = [(UI, f)]
    out["UI page: folder, deep page"] = [(UI, params) for _path, params in deep]
    out["UI page: folder by sender"] = [(UI, {**f, "sort": "sender"})]
    out["UI page: search mailbox, common"] = [(UI, {**f, "q": scale.COMMON})]
    out["UI page: search folder, common"] = [(UI, {**f, "q": scale.COMMON, "scope": "folder"})]
    return out


def measure_all(served: Served, rounds: int = 100) -> dict[str, Latency]:
    """Every request of ``plan``, ``rounds`` times, signed in as the mailbox's owner."""
    with httpx.Client(base_url=served.url, timeout=600) as client:
        client.post("/api/v1/session", json={"username": BOX, "password": PASSWORD}
                    ).raise_for_status()
        return {name: measure(client, served.times, requests, rounds)
                for name, requests in plan(served.engine).items()}


def table(results: dict[str, dict[str, Latency]]) -> str:
    """Results of each database side by side: server p50 and p95, round-trip p95, and whether
    the server p95 meets the goal."""
    names = list(results)
    lines = [f"{'':<34}" + "".join(f"| {name:<28}" for name in names),
             f"{'request':<34}" + f"| {'p50':>8} {'p95':>8}  {'trip p95':>8} " * len(names)]
    for query in next(iter(results.values())):
        line = f"{query:<34}"
        for name in names:
            r = results[name][query]
            mark = " " if r.p95 <= GOAL_MS else "*"
            line += f"| {r.p50:8.1f} {r.p95:8.1f}{mark} {r.trip95:8.1f} "
        lines.append(line)
    lines.append(f"server time p50, p95; trip: the round trip seen by the client; "
                 f"* p95 above the goal of {GOAL_MS:.0f} ms")
    return "\n".join(lines)
