"""Listener benchmark (not a test): memory and CPU of a listener holding streaming subscriptions.

    .venv/bin/python -m benchmarks.listener_bench                      # 1,000 and 5,000 mailboxes
    .venv/bin/python -m benchmarks.listener_bench --mailboxes 2000

The simulator runs in a child process, so only the listener is measured: resident memory (RSS)
before the listener is built and once every mailbox is subscribed and streaming; CPU seconds to
subscribe, to hold the connections idle for a while (keep-alives), and to turn one change in every
mailbox into change events on the (embedded) bus. Connections are charged to each group's anchor
mailbox (``hanging_budget = anchor_mailbox``), so 5,000 mailboxes stream at once.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from listener.cli import connection_for
from listener.service import Listener
from listener.settings import ListenerSection, ListenerSettings, StreamingSection
from listener.streaming import StreamingMode
from mfr.bus import open_bus
from mfr.codec import Codec
from mfr.ews import ExchangeSettings
from mfr.settings import BusSettings
from mfr.topics import Topic, topic_name

SERVICE, PASSWORD = "bench-listener@sim.example", "bench-pw"


def serve_simulator(count: int, keepalive_s: float) -> None:
    """Child process: a simulator with ``count`` mailboxes; "change" on stdin makes one change
    in every mailbox."""
    from simulator import Simulator, SimulatorSection  # noqa: PLC0415

    sim = Simulator(SimulatorSection(port=0, keepalive_s=keepalive_s)).start()
    sim.add_service_account(SERVICE, PASSWORD, impersonate={"*"})
    mailboxes = [f"bench{i:05d}@sim.example" for i in range(count)]
    for address in mailboxes:
        sim.control.create_mailbox(address)
    print(json.dumps({"endpoint": sim.endpoint_url, "mailboxes": mailboxes}), flush=True)
    for line in sys.stdin:
        if line.strip() == "change":
            for address in mailboxes:
                sim.control.create_item(address, subject="benchmark")
            print("changed", flush=True)
    sim.stop()


def rss_mb() -> float:
    """Resident memory of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(count: int, hold_s: float, keepalive_s: float) -> dict[str, Any]:
    """Run one listener over ``count`` mailboxes and report what it cost."""
    child = subprocess.Popen(  # noqa: S603 - this module, run by the same interpreter
        [sys.executable, "-m", "benchmarks.listener_bench", "--serve", str(count),
         "--keepalive", str(keepalive_s)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    if child.stdout is None or child.stdin is None:
        raise RuntimeError("the simulator process has no pipes")
    started = json.loads(child.stdout.readline())
    workdir = Path(tempfile.mkdtemp(prefix="listener-bench-"))
    bus_settings = BusSettings(embedded_path=workdir / "bus.sqlite3")
    settings = ListenerSettings(
        exchange=ExchangeSettings(endpoint=started["endpoint"], auth="basic",
                                  service_account=SERVICE, password=PASSWORD,  # type: ignore[arg-type]
                                  version="Exchange2016"),
        bus=bus_settings,
        listener=ListenerSection(mailboxes=started["mailboxes"], subscribe_concurrency=16,
                                 streaming=StreamingSection(hanging_budget="anchor_mailbox")),
    )
    baseline = rss_mb()
    cpu0, wall0 = time.process_time(), time.monotonic()
    bus = open_bus(bus_settings)
    listener = Listener(settings, bus, connection_for(settings), Codec())
    listener.start()
    listener.ready.wait()
    mode = listener.mode
    if not isinstance(mode, StreamingMode):
        raise TypeError("the benchmark measures streaming mode")
    while mode.slots.in_use() < len(mode.groups.names()):
        time.sleep(0.1)
    subscribe_cpu, subscribe_wall = time.process_time() - cpu0, time.monotonic() - wall0
    held = rss_mb()
    cpu1 = time.process_time()
    time.sleep(hold_s)
    idle_cpu = time.process_time() - cpu1
    reader = bus.consumer("bench", [topic_name(bus_settings, Topic.CHANGES)])
    reader.seek_to_beginning()
    seen = 0
    while reader.poll(max_records=10000, timeout_s=0.5):
        pass
    cpu2, wall2 = time.process_time(), time.monotonic()
    child.stdin.write("change\n")
    child.stdin.flush()
    child.stdout.readline()
    codec = Codec()
    while seen < count:
        seen += sum(1 for r in reader.poll(max_records=10000, timeout_s=0.5)
                    if codec.decode(r.value).datum["event_type"] == "NewMail")
    burst_cpu, burst_wall = time.process_time() - cpu2, time.monotonic() - wall2
    peak = rss_mb()
    reader.close()
    listener.stop()
    bus.close()
    child.stdin.close()
    child.wait(timeout=60)
    return {
        "mailboxes": count,
        "groups": len(mode.groups.names()),
        "rss_baseline_mb": round(baseline, 1),
        "rss_streaming_mb": round(held, 1),
        "rss_after_burst_mb": round(peak, 1),
        "mb_per_1000_mailboxes": round((held - baseline) / count * 1000, 1),
        "subscribe_s": round(subscribe_wall, 1),
        "subscribe_cpu_s": round(subscribe_cpu, 1),
        "idle_cpu_percent": round(100 * idle_cpu / hold_s, 2),
        "burst_events": 3 * count,
        "burst_s": round(burst_wall, 1),
        "burst_cpu_s": round(burst_cpu, 1),
    }


def main() -> None:
    """Parse arguments; run the child or the measurements."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mailboxes", type=int, action="append")
    parser.add_argument("--hold", type=float, default=20.0, help="idle seconds measured")
    parser.add_argument("--keepalive", type=float, default=5.0,
                        help="simulator's seconds between keep-alives")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_simulator(args.serve, args.keepalive)
        return
    for count in args.mailboxes or [1000, 5000]:
        print(json.dumps(measure(count, args.hold, args.keepalive)), flush=True)


if __name__ == "__main__":
    main()
