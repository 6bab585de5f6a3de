"""Webhook benchmark (not a test): how fast the Graph-mode listener answers notifications under
load, the number Graph's 3-second acknowledgement budget is about.

    .venv/bin/python -m benchmarks.webhook_bench                    # 1,000 mailboxes
    .venv/bin/python -m benchmarks.webhook_bench --mailboxes 1000 --rates 200,1000 --seconds 30

Three processes, so only the listener is measured: a TLS simulator (child) with the mailboxes,
the listener (this process) holding one real subscription per mailbox, made through the
simulator's Graph face with the validation handshake, on the embedded bus; and a load generator
(child) that POSTs ``{"value": [...]}`` bodies the way Graph batches them, 1 to ``--batch``
notifications of random subscriptions per POST, open-loop at a fixed rate of notifications
(the next POST goes out on time whether or not earlier ones were answered), many in flight.

Phases, in one run: **baseline** (validation handshakes at the load's POST rate: the HTTP stack
alone), **forged** (the same bodies with a wrong clientState: parsed, checked, dropped, nothing
written), then **genuine** notifications at each rate of ``--rates``: every one written to the
bus and flushed before its 202. The default 200 notifications a second is 1,000 busy mailboxes at
one change every 5 s each (a busy mailbox's day of ~200 messages, each created, read, moved or
deleted, is about one change a minute over a working day: this is ten times that); 1,000 a
second shows the headroom. For each phase it prints answer-time percentiles as the sender saw
them, non-2xx answers, the listener process's CPU and the wall time; after the genuine phases
it checks every notification's event is on the bus.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn

from listener.app import create_app
from listener.cli import connection_for
from listener.service import Listener
from listener.settings import GraphListenerSection, ListenerSection, ListenerSettings
from mfr.bus import open_bus
from mfr.codec import Codec
from mfr.ews import ExchangeSettings
from mfr.graph import GraphSettings
from mfr.settings import BusSettings
from mfr.topics import Topic, topic_name

CONNECTIONS = 64  # POSTs in flight at most, as Graph's senders post in parallel


# --- child: the simulator ---
def serve_simulator(count: int) -> None:
    """Child process: a TLS simulator with ``count`` mailboxes; "subscriptions" on stdin prints
    the live Graph subscriptions (with their clientState) as one JSON line."""
    from simulator import Simulator, SimulatorSection  # noqa: PLC0415

    tls_dir = Path(tempfile.mkdtemp(prefix="bench-tls-"))
    sim = Simulator(SimulatorSection(port=0, tls=True, tls_dir=tls_dir)).start()
    mailboxes = [f"bench{i:05d}@sim.example" for i in range(count)]
    for address in mailboxes:
        sim.control.create_mailbox(address)
    print(
        json.dumps(
            {
                "tenant_id": sim.graph.auth.tenant_id,
                "client_id": sim.settings.graph.client_id,
                "client_secret": sim.settings.graph.client_secret.get_secret_value(),
                "authority_host": sim.authority_url,
                "graph_url": sim.graph_url,
                "ca_file": str(sim.ca_file),
                "mailboxes": mailboxes,
            }
        ),
        flush=True,
    )
    for line in sys.stdin:
        if line.strip() == "subscriptions":
            print(json.dumps(sim.graph.controls["subscriptions"]()), flush=True)
    sim.stop()


# --- child: the load generator ---
def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


class _Connection:
    """One keep-alive HTTP/1.1 connection: requests prebuilt as bytes, answers read by
    Content-Length. A client this small costs the sender little CPU, so on a small machine the
    listener, not the sender, is what is measured."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return status


def _requests(
    url: str, subs: list[dict[str, str]], phase: dict[str, Any]
) -> tuple[list[bytes], int]:
    """Every POST of a phase, built before the clock starts, and the notifications in them."""
    parts = urlsplit(url)
    rng = random.Random(phase["seed"])  # noqa: S311 - load shape, not crypto
    built, total = [], 0
    while total < phase["rate"] * phase["seconds"]:
        size = rng.randint(1, phase["batch"])
        total += size
        if phase["kind"] == "baseline":
            built.append(
                f"POST {parts.path}?validationToken=bench%20token HTTP/1.1\r\n"
                f"Host: {parts.netloc}\r\nContent-Type: text/plain\r\n"
                "Content-Length: 0\r\n\r\n".encode()
            )
            continue
        notes = []
        for _ in range(size):
            sub = rng.choice(subs)
            notes.append(
                {
                    "subscriptionId": sub["id"],
                    "clientState": sub["clientState"] if phase["kind"] == "genuine" else "forged",
                    "changeType": rng.choice(("created", "updated", "deleted")),
                    "resource": f"Users/u/Messages/{uuid.uuid4()}",
                    "resourceData": {
                        "@odata.type": "#Microsoft.Graph.Message",
                        "id": f"AAMk{uuid.uuid4().hex}",
                    },
                    "subscriptionExpirationDateTime": "2030-01-01T00:00:00Z",
                    "tenantId": "bench",
                }
            )
        body = json.dumps({"value": notes}).encode()
        built.append(
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
    return built, total


async def _phase(url: str, subs: list[dict[str, str]], phase: dict[str, Any]) -> dict[str, Any]:
    requests, notifications = _requests(url, subs, phase)
    spacing = phase["seconds"] / len(requests)
    parts = urlsplit(url)
    idle: asyncio.Queue[_Connection] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        idle.put_nowait(_Connection(*await asyncio.open_connection(parts.hostname, parts.port)))
    latencies: list[float] = []
    failures, late = 0, 0.0

    async def post(request: bytes) -> None:
        nonlocal failures
        connection = await idle.get()
        started = time.perf_counter()
        status = await connection.send(request)
        latencies.append(time.perf_counter() - started)
        failures += not 200 <= status < 300
        idle.put_nowait(connection)

    cpu, begin = time.process_time(), time.perf_counter()
    tasks = []
    for index, request in enumerate(requests):
        delay = begin + index * spacing - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late = max(late, -delay)
        tasks.append(asyncio.create_task(post(request)))
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - begin
    cpu = time.process_time() - cpu
    while not idle.empty():
        idle.get_nowait().writer.close()
    return {
        "phase": phase["name"],
        "posts": len(latencies),
        "notifications": notifications,
        "p50_ms": round(1000 * _percentile(latencies, 0.50), 1),
        "p95_ms": round(1000 * _percentile(latencies, 0.95), 1),
        "p99_ms": round(1000 * _percentile(latencies, 0.99), 1),
        "max_ms": round(1000 * max(latencies), 1),
        "non_2xx": failures,
        "over_3s": sum(1 for x in latencies if x >= 3.0),
        "wall_s": round(wall, 1),
        "sender_cpu_percent": round(100 * cpu / wall, 1),
        "sender_behind_max_ms": round(1000 * late, 1),
    }


def run_load() -> None:
    """Child process: phases from stdin, one at a time; one JSON result line per phase."""
    setup = json.loads(sys.stdin.readline())
    for line in sys.stdin:
        phase = json.loads(line)
        print(json.dumps(asyncio.run(_phase(setup["url"], setup["subs"], phase))), flush=True)


# --- this process: the listener ---
def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - this module, run by the same interpreter
        [sys.executable, "-m", "benchmarks.webhook_bench", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _pipes(child: subprocess.Popen[str]) -> tuple[Any, Any]:
    if child.stdin is None or child.stdout is None:
        raise RuntimeError("a child process has no pipes")
    return child.stdin, child.stdout


def _ask(child: subprocess.Popen[str], line: str) -> Any:
    stdin, stdout = _pipes(child)
    stdin.write(line + "\n")
    stdin.flush()
    return json.loads(stdout.readline())


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(count: int, rates: list[float], seconds: float, batch: int) -> list[dict[str, Any]]:
    """Subscribe ``count`` mailboxes, run the phases, return one result per phase."""
    sim = _child("--serve", str(count))
    started = json.loads(_pipes(sim)[1].readline())
    port = _free_port()
    workdir = Path(tempfile.mkdtemp(prefix="webhook-bench-"))
    bus_settings = BusSettings(embedded_path=workdir / "bus.sqlite3")
    graph = GraphSettings.model_validate({k: v for k, v in started.items() if k != "mailboxes"})
    settings = ListenerSettings(
        exchange=ExchangeSettings(api="graph", graph=graph),
        bus=bus_settings,
        listener=ListenerSection(
            mailboxes=started["mailboxes"],
            port=port,
            subscribe_concurrency=16,
            graph=GraphListenerSection.model_validate(
                {"notification_url": f"http://127.0.0.1:{port}", "hierarchy_interval_s": 3600}
            ),
        ),
    )
    bus = open_bus(bus_settings)
    listener = Listener(settings, bus, connection_for(settings), Codec())
    server = uvicorn.Server(
        uvicorn.Config(create_app(listener), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wall0, cpu0 = time.monotonic(), time.process_time()
    listener.start()
    listener.ready.wait()
    results = [
        {
            "phase": f"subscribe {count}",
            "wall_s": round(time.monotonic() - wall0, 1),
            "cpu_s": round(time.process_time() - cpu0, 1),
            "subscribed": listener.board.count_subscribed(),
        }
    ]
    subs = _ask(sim, "subscriptions")
    load = _child("--load")
    _pipes(load)[0].write(
        json.dumps({"url": f"http://127.0.0.1:{port}/graph/notifications", "subs": subs}) + "\n"
    )
    phases = [("baseline", "baseline", rates[0]), ("forged", "forged", rates[0])]
    phases += [(f"genuine {rate:g}/s", "genuine", rate) for rate in rates]
    reader = bus.consumer("bench", [topic_name(bus_settings, Topic.CHANGES)])
    reader.seek_to_beginning()
    codec, written = Codec(), 0
    for seed, (name, kind, rate) in enumerate(phases):
        cpu, wall = time.process_time(), time.monotonic()
        result = _ask(
            load,
            json.dumps(
                {
                    "name": name,
                    "kind": kind,
                    "rate": rate,
                    "seconds": seconds,
                    "batch": batch,
                    "seed": seed,
                }
            ),
        )
        result["listener_cpu_s"] = round(time.process_time() - cpu, 1)
        result["listener_cpu_percent"] = round(
            100 * (time.process_time() - cpu) / (time.monotonic() - wall), 1
        )
        result["rate_per_s"] = rate
        if kind == "genuine":
            while records := reader.poll(max_records=20000, timeout_s=0.5):
                written += sum(
                    1 for r in records if codec.decode(r.value).datum["target"] == "Item"
                )
            result["events_on_bus"] = written
            written = 0
        results.append(result)
    reader.close()
    _pipes(load)[0].close()
    load.wait(timeout=60)
    server.should_exit = True
    thread.join(timeout=20)
    listener.stop()
    bus.close()
    _pipes(sim)[0].close()
    sim.wait(timeout=60)
    return results


def main() -> None:
    """Parse arguments; run a child's part or the measurements."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mailboxes", type=int, default=1000)
    parser.add_argument(
        "--rates",
        default="200,1000",
        help="notifications per second of the genuine phases, comma-separated",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each phase")
    parser.add_argument("--batch", type=int, default=10, help="most notifications per POST")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve is not None:
        serve_simulator(args.serve)
        return
    if args.load:
        run_load()
        return
    wall, cpu = time.monotonic(), time.process_time()
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    for result in measure(args.mailboxes, rates, args.seconds, args.batch):
        print(json.dumps(result), flush=True)
    print(
        json.dumps(
            {
                "total_wall_s": round(time.monotonic() - wall, 1),
                "listener_process_cpu_s": round(time.process_time() - cpu, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
