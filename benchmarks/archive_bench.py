"""Archive benchmarks (not tests): pipeline-like ingest (many mailboxes, new and updated keys),
ingest throughput over the real HTTP API, and the server time of reading a big mailbox (folder
pages, sorted folders, searches, the folder tree, the web UI page), on SQLite and on
PostgreSQL in one run.

    .venv/bin/python -m benchmarks.archive_bench --scale       # issue 15: 1,000,000 messages
    .venv/bin/python -m benchmarks.archive_bench               # both databases, 200,000 msgs
    .venv/bin/python -m benchmarks.archive_bench --db sqlite --messages 20000
    .venv/bin/python -m benchmarks.archive_bench --pipeline-only # just the pipeline-like ingest
    .venv/bin/python -m benchmarks.archive_bench --reads-only    # just the big mailbox

``--scale`` is the size the archive must hold (issue 15, item 7): one mailbox of 1,000,000
messages, 100,000 of them in its Inbox (``--messages``, ``--folder-messages`` set other sizes).
The goal is a p95 server time of 50 ms for a listing page on both databases. Most of the
mailbox is bulk-loaded with rows proven equal to the ingest's (``archive_scale``); what
"server time" means is in ``archive_latency``. The load takes minutes per database on a
2-core machine (the figures it prints), the reads a few minutes more.

Pipeline-like ingest is measured twice per database in one run: with today's batched
``apply_batch`` and with the per-mailbox one it replaced (loaded from git), each on a fresh
database, through the store alone (checking and applying, as the ingest endpoint does after
reading the body) and over HTTP.

PostgreSQL is a throwaway local cluster (Debian's postgresql package, as in the tests), with
its default settings (128 MB of shared buffers): the operating system caches the rest.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

import httpx
from pydantic import SecretStr
from sqlalchemy import select

from archive.accounts import add_token, add_user
from archive.ingest import apply as batched
from archive.ingest.wire import parse_record
from archive.settings import ArchiveSettings
from archive.store.engine import migrate, open_engine
from archive.store.tables import mailboxes
from archive.web import ingest_api
from archive.web.app import create_app
from benchmarks import archive_latency, archive_scale
from benchmarks.archive_latency import Latency
from benchmarks.ingest_workload import Apply, per_mailbox_apply, pipeline_records
from tests.archive.postgres import PostgresServer
from tests.archive.server import ThreadedServer

BOX = archive_scale.BOX
BATCH = 500
PASSWORD = "benchmark password"  # noqa: S105 - a throwaway local user


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


def cpu_ticks() -> list[int]:
    """The machine's CPU time so far by kind (Linux ``/proc/stat``; empty elsewhere)."""
    try:
        return [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    except (OSError, ValueError):
        return []


def stolen(since: list[int]) -> str:
    """The share of CPU time the hypervisor gave to other machines since ``since``: on a
    shared virtual machine, latencies move with it even when the load average is low."""
    now = cpu_ticks()
    if not since or len(now) < 8:
        return "steal time unknown"
    spent = [b - a for a, b in zip(since, now, strict=True)]
    return f"steal time {spent[7] / max(1, sum(spent)):.0%} of the CPU time"


def run(name: str, url: str, args: argparse.Namespace) -> dict[str, Latency]:
    """One database: the big mailbox (its folders and a sample over HTTP, the rest in bulk),
    then the server time of every read."""
    folders = archive_scale.folder_plan(args.messages, args.folder_messages)
    sample = list(archive_scale.message_records(folders, 0, args.http_sample))
    with archive_latency.served(url) as archive:
        rate = ingest(archive.url, archive.token, archive_scale.folder_records() + sample)
        with archive.engine.connect() as conn:
            box = conn.execute(select(mailboxes.c.id).where(mailboxes.c.address == BOX)
                               ).scalar_one()
        archive_scale.verify_sample(archive.engine, box, sample)
        started = time.perf_counter()
        loaded = archive_scale.bulk_load(
            url, box, archive_scale.message_records(folders, len(sample)))
        load_s = time.perf_counter() - started
        settle_s = archive_scale.settle(archive.engine)
        archive_scale.check_counts(archive.engine, box)
        print(f"\n{name}: {len(sample):,} messages over HTTP at {rate:,.0f} records/s, equal "
              f"to the bulk loader's rows; {loaded:,} more in bulk in {load_s:,.0f} s "
              f"({loaded / load_s:,.0f} messages/s); settled (vacuum, analyse, checkpoint) in "
              f"{settle_s:,.0f} s; folder counts equal a recount",
              flush=True)
        before, ticks = os.getloadavg()[0], cpu_ticks()
        results = archive_latency.measure_all(archive, args.rounds)
    print(f"{name}: load average {before:.1f} when the reads began, {os.getloadavg()[0]:.1f} "
          f"when they ended (this benchmark keeps about one core busy); {stolen(ticks)}")
    for what, r in results.items():
        print(f"{name}: {what:<34} p50 {r.p50:7.1f} ms   p95 {r.p95:7.1f} ms   "
              f"(round trip p95 {r.trip95:7.1f} ms, {r.rounds} requests)", flush=True)
    return results


def main() -> None:
    """Parse arguments and run the chosen databases."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--scale", action="store_true",
                        help="1,000,000 messages, 100,000 in the Inbox (issue 15)")
    parser.add_argument("--messages", type=int, default=200_000, help="in the big mailbox")
    parser.add_argument("--folder-messages", type=int, default=100_000, help="in its Inbox")
    parser.add_argument("--http-sample", type=int, default=5_000,
                        help="messages ingested over HTTP (and compared with the bulk rows)")
    parser.add_argument("--rounds", type=int, default=100, help="requests per read measured")
    parser.add_argument("--mailboxes", type=int, default=1000, help="pipeline-like ingest")
    parser.add_argument("--cycles", type=int, default=5000, help="3 records per cycle")
    parser.add_argument("--pipeline-only", action="store_true")
    parser.add_argument("--reads-only", action="store_true", help="skip the pipeline-like ingest")
    args = parser.parse_args()
    if args.scale:
        args.messages, args.folder_messages = 1_000_000, 100_000
    reads: dict[str, dict[str, Latency]] = {}
    if args.db in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            if not args.reads_only:
                pipeline("sqlite", lambda label: f"sqlite:///{Path(tmp) / label}.sqlite3", args)
            if not args.pipeline_only:
                reads["SQLite"] = run("sqlite", f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", args)
    if args.db in ("postgresql", "both"):
        server = PostgresServer()
        server.start()
        try:
            if not args.reads_only:
                pipeline("postgresql", server.create_database, args)
            if not args.pipeline_only:
                reads["PostgreSQL"] = run("postgresql", server.create_database("bench"), args)
        finally:
            server.stop()
    if reads:
        print(f"\nServer time in ms, {args.messages:,} messages in the mailbox, "
              f"{min(args.folder_messages, args.messages):,} in its Inbox:")
        print(archive_latency.table(reads))


if __name__ == "__main__":
    main()
