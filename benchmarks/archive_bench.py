"""Archive benchmarks (not tests): pipeline-like ingest (many mailboxes, new and updated keys),
ingest throughput over the real HTTP API, and latency of listing a folder that holds 100,000
messages, on SQLite and on PostgreSQL.

    .venv/bin/python -m benchmarks.archive_bench                 # both databases, 100,000 msgs
    .venv/bin/python -m benchmarks.archive_bench --db sqlite --messages 20000
    .venv/bin/python -m benchmarks.archive_bench --pipeline-only # just the pipeline-like ingest

Pipeline-like ingest is measured twice per database in one run: with today's batched
``apply_batch`` and with the per-mailbox one it replaced (loaded from git), each on a fresh
database, through the store alone (checking and applying, as the ingest endpoint does after
reading the body) and over HTTP.

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
from typing import Any, NamedTuple

import httpx
from pydantic import SecretStr

from archive.accounts import add_token, add_user
from archive.ingest import apply as batched
from archive.ingest.wire import parse_record
from archive.settings import ArchiveSettings
from archive.store.engine import migrate, open_engine
from archive.web import ingest_api
from archive.web.app import create_app
from benchmarks.ingest_workload import Apply, per_mailbox_apply, pipeline_records
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


def ingest(base: str, token: str, all_records: list[dict[str, Any]]) -> float:
    """Records per second through POST /api/ingest/v1/batches, batches of 500 (bodies are
    serialised before the clock starts: the client shares the server's process)."""
    count = len(all_records)
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
        params: dict[str, Any] = {"folder": "inbox", "limit": 50}
        if cursor:
            params["cursor"] = cursor
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


class Rate(NamedTuple):
    """A throughput: wall-clock records/s, and this process's CPU per record (which a busy
    machine disturbs far less than the wall clock)."""

    per_s: float
    cpu_ms: float


def timed(count: int, work: Callable[[], object]) -> Rate:
    """Run ``work`` (handling ``count`` records) and measure it."""
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Rate(count / wall, cpu / count * 1000)


def store_rate(url: str, records: list[dict[str, Any]], apply: Apply) -> Rate:
    """Records checked (pydantic, as the endpoint does) and applied, one transaction per batch of
    ``BATCH``, on a fresh database at ``url``."""
    engine = open_engine(url)
    migrate(engine)

    def work() -> None:
        for i in range(0, len(records), BATCH):
            parsed = [parse_record(n, raw) for n, raw in enumerate(records[i : i + BATCH])]
            with engine.begin() as conn:
                apply(conn, parsed, int(time.time() * 1000))

    try:
        return timed(len(records), work)
    finally:
        engine.dispose()


def http_rate(url: str, records: list[dict[str, Any]], apply: Apply) -> Rate:
    """Records through POST /api/ingest/v1/batches with ``apply`` behind it (the CPU is the
    client's and the server's: they share this process)."""
    namespace = vars(ingest_api)  # the endpoint looks apply_batch up in its module at each call
    saved = namespace["apply_batch"]
    namespace["apply_batch"] = apply
    try:
        with served(url) as (base, token, _client):
            cpu = time.process_time()
            per_s = ingest(base, token, records)
            return Rate(per_s, (time.process_time() - cpu) / len(records) * 1000)
    finally:
        namespace["apply_batch"] = saved


def pipeline(name: str, fresh_url: Callable[[str], str], args: argparse.Namespace) -> None:
    """Pipeline-like ingest, batched apply against the per-mailbox one, on fresh databases."""
    records = pipeline_records(args.mailboxes, args.cycles)
    old = per_mailbox_apply(Path(__file__).resolve().parent.parent)
    ways: list[tuple[str, Apply]] = [("batched", batched.apply_batch)]
    if old is not None:
        ways.append(("per-mailbox", old))
    rates: dict[tuple[str, str], Rate] = {}
    for label, apply in ways:
        rates[label, "store"] = store_rate(fresh_url(f"{label}_store"), records, apply)
        rates[label, "http"] = http_rate(fresh_url(f"{label}_http"), records, apply)
    print(f"\n{name}: pipeline-like ingest, {len(records):,} records ({args.cycles:,} cycles, "
          f"{args.mailboxes:,} mailboxes, batches of {BATCH}):")
    for where in ("store", "http"):
        after = rates["batched", where]
        line = (f"{name}:   {where:<5} batched {after.per_s:7,.0f} records/s "
                f"({after.cpu_ms:.3f} ms CPU each)")
        if old is not None:
            before = rates["per-mailbox", where]
            line += (f"   per-mailbox {before.per_s:7,.0f} records/s ({before.cpu_ms:.3f} ms CPU)"
                     f"   ratio {after.per_s / before.per_s:4.1f}x")
        print(line)


def run(name: str, url: str, count: int) -> None:
    """One database: ingest, then listing latencies."""
    with served(url) as (base, token, client):
        rate = ingest(base, token, list(records(count)))
        print(f"\n{name}: ingest {count} records over HTTP: {rate:,.0f} records/s")
        for what, (p50, p95) in listing(client, count).items():
            print(f"{name}: {what:<26} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")


def main() -> None:
    """Parse arguments and run the chosen databases."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--mailboxes", type=int, default=1000, help="pipeline-like ingest")
    parser.add_argument("--cycles", type=int, default=5000, help="3 records per cycle")
    parser.add_argument("--pipeline-only", action="store_true")
    args = parser.parse_args()
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            pipeline("sqlite", lambda label: f"sqlite:///{Path(tmp) / label}.sqlite3", args)
            if not args.pipeline_only:
                run("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", args.messages)
    if args.db in ("postgresql", "both"):
        server = PostgresServer()
        server.start()
        try:
            pipeline("postgresql", server.create_database, args)
            if not args.pipeline_only:
                run("postgresql", server.create_database("bench"), args.messages)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
