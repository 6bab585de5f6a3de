"""Archive benchmarks (not tests): ingest throughput over the real HTTP API, and latency of
listing a folder that holds 100,000 messages, on SQLite and on PostgreSQL.

    .venv/bin/python -m benchmarks.archive_bench                 # both databases, 100,000 msgs
    .venv/bin/python -m benchmarks.archive_bench --db sqlite --messages 20000

PostgreSQL is a throwaway local cluster (Debian's postgresql package, as in the tests).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from archive.accounts import add_token, add_user
from archive.settings import ArchiveSettings
from archive.store.engine import open_engine
from archive.web.app import create_app
from tests.archive.postgres import PostgresServer
from tests.archive.server import ThreadedServer

BOX = "bench@example.com"
T0 = 1_700_000_000_000
BATCH = 500
PASSWORD = "benchmark password"  # noqa: S105 - a throwaway local user


def records(count: int) -> Iterator[dict[str, Any]]:
    """``count`` message states in one folder, realistic in size."""
    for i in range(count):
        yield {
            "type": "MessageState",
            "ref": f"bench/{i}",
            "state": {
                "mailbox": BOX,
                "message_key": f"AAMkAD{i:012d}" + "x" * 100,
                "item_id": f"AAMkAGI2{i:012d}" + "y" * 120,
                "change_key": "CQAAABYAAAB" + "z" * 30,
                "folder_key": "inbox",
                "last_known_folder_key": "inbox",
                "subject": f"Quarterly figures, revision {i}",
                "sender": {"name": f"Sender {i % 500}", "email_address": f"s{i % 500}@corp.ex"},
                "to_recipients": [{"name": "Bench", "email_address": BOX}],
                "datetime_received": T0 - i * 60_000,
                "datetime_sent": T0 - i * 60_000 - 5000,
                "size": 20_000 + i % 1000,
                "is_read": i % 3 == 0,
                "importance": "Normal",
                "categories": ["Finance"] if i % 10 == 0 else [],
                "internet_message_id": f"<{i}@corp.example>",
                "version": 1,
                "observed_time": T0,
            },
        }


@contextmanager
def served(url: str) -> Iterator[tuple[str, str, httpx.Client]]:
    """The archive on ``url``, a token and a signed-in client."""
    settings = ArchiveSettings(database_url=SecretStr(url), cookie_secure=False)
    engine = open_engine(url)
    server = ThreadedServer(create_app(settings, engine, purge=False))
    server.start()
    add_user(engine, BOX, PASSWORD, admin=False, mailboxes=[])
    token = add_token(engine, "bench")
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            client.post("/api/v1/session", json={"username": BOX, "password": PASSWORD})
            yield server.url, token, client
    finally:
        server.stop()
        engine.dispose()


def ingest(base: str, token: str, count: int) -> float:
    """Records per second through POST /api/ingest/v1/batches, batches of 500 (bodies are
    serialised before the clock starts: the client shares the server's process)."""
    all_records = list(records(count))
    bodies = [
        json.dumps({"records": all_records[i : i + BATCH]}).encode()
        for i in range(0, count, BATCH)
    ]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=300, headers=headers) as http:
        for body in bodies:
            http.post("/api/ingest/v1/batches", content=body).raise_for_status()
    return count / (time.perf_counter() - started)


def latency(call: Callable[[], httpx.Response], rounds: int) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call().raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def listing(client: httpx.Client, count: int) -> dict[str, tuple[float, float]]:
    """Latencies of the folder listing: first page, deep pages (via cursors), filtered, UI."""
    api = f"/api/v1/mailboxes/{BOX}/messages"
    cursors = [None]
    page = client.get(api, params={"folder": "inbox", "limit": 50}).json()
    while page["next_cursor"] and len(cursors) < 400:
        cursors.append(page["next_cursor"])
        page = client.get(api, params={"folder": "inbox", "limit": 500,
                                       "cursor": page["next_cursor"]}).json()
    rng = random.Random(1)  # noqa: S311 - picks pages, not secrets

    def deep() -> httpx.Response:
        cursor = rng.choice(cursors)
        params = {"folder": "inbox", "limit": 50} | ({"cursor": cursor} if cursor else {})
        return client.get(api, params=params)

    return {
        "first page (50)": latency(lambda: client.get(api, params={"folder": "inbox"}), 100),
        "random deep page (50)": latency(deep, 100),
        "sender filter": latency(
            lambda: client.get(api, params={"folder": "inbox", "sender": "sender 42"}), 50),
        "folder tree with counts": latency(
            lambda: client.get(f"/api/v1/mailboxes/{BOX}/folders"), 50),
        "web UI page (3 panes)": latency(lambda: client.get(f"/mailbox/{BOX}?folder=inbox"), 50),
    }


def run(name: str, url: str, count: int) -> None:
    """One database: ingest, then listing latencies."""
    with served(url) as (base, token, client):
        rate = ingest(base, token, count)
        print(f"\n{name}: ingest {count} records over HTTP: {rate:,.0f} records/s")
        for what, (p50, p95) in listing(client, count).items():
            print(f"{name}: {what:<26} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")


def main() -> None:
    """Parse arguments and run the chosen databases."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            run("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", args.messages)
    if args.db in ("postgresql", "both"):
        server = PostgresServer()
        server.start()
        try:
            run("postgresql", server.create_database("bench"), args.messages)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
