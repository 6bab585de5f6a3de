"""Graph face benchmark (not a test): message delta throughput next to the EWS face's, same run.

One simulator runs in a process of its own with one generated mailbox; this process is the
client. The same Inbox is synchronised from scratch, page after page to the end, six ways:

- EWS SyncFolderItems in raw SOAP over httpx (IdOnly and Default shapes), and through exchangelib
  (``sync_items`` with subject and is_read) — the baseline;
- Graph ``mailFolders/inbox/messages/delta`` over raw httpx (every default property, and
  ``$select=subject,isRead``) and through msgraph-sdk (the test client of ``tests/simulator/graph/
  sdk.py``, without the CSDL check, so the client's own cost is measured).

Pages are 512 entries on both faces (``MaxChangesReturned`` and ``Prefer: odata.maxpagesize``).
Each line gives entries/s, the ratio to its EWS counterpart (raw Default for raw Graph, raw
IdOnly for raw Graph with $select, exchangelib for msgraph-sdk), wall time, and CPU seconds spent
by the client and by the simulator (read from ``/proc/<pid>/stat``, so Linux only).

    .venv/bin/python -m benchmarks.graph_bench                  # 10,000 messages in the mailbox
    .venv/bin/python -m benchmarks.graph_bench --messages 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, Version
from exchangelib.version import EXCHANGE_2016
from kiota_abstractions.base_request_configuration import RequestConfiguration
from lxml import etree
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import (
    DeltaRequestBuilder,
)

from tests.simulator.graph.sdk import SimulatorTokens, graph_client

M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
PAGE = 512
SERVICE = ("svc-mfr@sim.example", "simulator")
SERVE = """
import sys
from simulator import Simulator
from simulator.generator import populate
sim = Simulator(port=0)
[smtp] = populate(sim.control, 1, int(sys.argv[1]), 1, "sim.example", "pw")
sim.start()
print(sim.url, smtp, sim.graph.auth.issue_token(sim.settings.graph.client_id), flush=True)
sys.stdin.read()
sim.stop()
"""


@dataclass(frozen=True, slots=True)
class Result:
    """One way of synchronising the Inbox: entries, wall and CPU seconds on each side."""

    name: str
    entries: int
    wall_s: float
    client_cpu_s: float
    server_cpu_s: float

    @property
    def per_s(self) -> float:
        return self.entries / self.wall_s


def server_cpu(pid: int) -> float:
    """CPU seconds (user + system) the simulator process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(name: str, pid: int, run: Callable[[], int]) -> Result:
    """Time one synchronisation on both sides."""
    server0, cpu0, wall0 = server_cpu(pid), time.process_time(), time.perf_counter()
    entries = run()
    wall = time.perf_counter() - wall0
    print(f"  {name}: {entries} entries in {wall:.2f} s", file=sys.stderr, flush=True)
    return Result(name, entries, wall, time.process_time() - cpu0, server_cpu(pid) - server0)


# --- EWS ------------------------------------------------------------------------------------
def ews_sync(client: httpx.Client, url: str, smtp: str, shape: str) -> int:
    """SyncFolderItems on the Inbox in raw SOAP until IncludesLastItemInRange."""
    count, state = 0, ""
    while True:
        body = (
            f"<m:SyncFolderItems><m:ItemShape><t:BaseShape>{shape}</t:BaseShape></m:ItemShape>"
            "<m:SyncFolderId><t:DistinguishedFolderId Id='inbox'/></m:SyncFolderId>"
            f"{state}<m:MaxChangesReturned>{PAGE}</m:MaxChangesReturned></m:SyncFolderItems>"
        )
        envelope = (
            '<?xml version="1.0" encoding="utf-8"?><s:Envelope '
            f'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{M}" xmlns:t="{T}">'
            '<s:Header><t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation>'
            f"<t:ConnectingSID><t:PrimarySmtpAddress>{smtp}</t:PrimarySmtpAddress>"
            f"</t:ConnectingSID></t:ExchangeImpersonation></s:Header><s:Body>{body}</s:Body>"
            "</s:Envelope>"
        )
        answer = client.post(url, content=envelope.encode())
        answer.raise_for_status()
        root = etree.fromstring(answer.content)
        count += sum(1 for _ in root.iter(f"{{{T}}}ItemId"))
        state = f"<m:SyncState>{root.findtext(f'.//{{{M}}}SyncState')}</m:SyncState>"
        if root.findtext(f".//{{{M}}}IncludesLastItemInRange") == "true":
            return count


def exchangelib_sync(url: str, smtp: str) -> int:
    """exchangelib's sync_items on the Inbox (subject and is_read)."""
    config = Configuration(
        service_endpoint=url, credentials=Credentials(*SERVICE), auth_type=BASIC,
        version=Version(EXCHANGE_2016),
    )  # fmt: skip
    account = Account(smtp, config=config, autodiscover=False, access_type=IMPERSONATION)
    changes = account.inbox.sync_items(
        only_fields=["subject", "is_read"], max_changes_returned=PAGE
    )
    return sum(1 for _ in changes)


# --- Graph ----------------------------------------------------------------------------------
def graph_delta(client: httpx.Client, graph_url: str, smtp: str, select: str | None) -> int:
    """The Inbox's message delta over raw httpx, nextLink after nextLink to the deltaLink."""
    prefer = {"Prefer": f"odata.maxpagesize={PAGE}"}
    first = f"{graph_url}/users/{smtp}/mailFolders/inbox/messages/delta"
    # Query parameters go on the first request only (httpx would replace a link's own query).
    answer = client.get(first, params={"$select": select} if select else None, headers=prefer)
    count = 0
    while True:
        answer.raise_for_status()
        page = answer.json()
        count += len(page["value"])
        if "@odata.deltaLink" in page:
            return count
        answer = client.get(page["@odata.nextLink"], headers=prefer)


def sdk_delta(
    graph_url: str, smtp: str, token: str, *, page_size: int = PAGE, first_page_only: bool = False
) -> int:
    """The same delta through msgraph-sdk (no CSDL check: the client's own cost)."""
    prefer = f"odata.maxpagesize={page_size}"

    async def main() -> int:
        tokens = SimulatorTokens(lambda: (token, 3000.0))
        async with graph_client(graph_url, tokens, check=False, timeout=120) as client:
            inbox = client.users.by_user_id(smtp).mail_folders.by_mail_folder_id("inbox")
            builder = inbox.messages.delta
            query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
                select=["subject", "isRead"]
            )
            first: RequestConfiguration[Any] = RequestConfiguration(query_parameters=query)
            first.headers.add("Prefer", prefer)
            following: RequestConfiguration[Any] = RequestConfiguration()
            following.headers.add("Prefer", prefer)
            page = await builder.get(first)
            count = len(page.value or []) if page else 0
            while page is not None and page.odata_next_link and not first_page_only:
                page = await builder.with_url(page.odata_next_link).get(following)
                count += len(page.value or []) if page else 0
            return count

    return asyncio.run(main())


def main() -> None:
    """Run the benchmark; print a table and one JSON line of results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    started = time.perf_counter()
    server = subprocess.Popen(  # noqa: S603 - our own interpreter running our own script
        [sys.executable, "-c", SERVE, str(args.messages)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = server.stdout.readline().split() if server.stdout else []
        base, smtp, token = line
        ews_url, graph_url = base + "/EWS/Exchange.asmx", base + "/v1.0"
        bearer = {"Authorization": f"Bearer {token}"}
        pid = server.pid
        with (
            httpx.Client(auth=SERVICE, timeout=120) as ews,
            httpx.Client(headers=bearer, timeout=120) as graph,
        ):
            results = [
                measure("ews raw Default", pid, lambda: ews_sync(ews, ews_url, smtp, "Default")),
                measure("ews raw IdOnly", pid, lambda: ews_sync(ews, ews_url, smtp, "IdOnly")),
                measure("ews exchangelib", pid, lambda: exchangelib_sync(ews_url, smtp)),
                measure("graph raw", pid, lambda: graph_delta(graph, graph_url, smtp, None)),
                measure(
                    "graph raw $select",
                    pid,
                    lambda: graph_delta(graph, graph_url, smtp, "subject,isRead"),
                ),
                # One untimed page first: the SDK imports its model modules on first use.
                measure(
                    "(sdk warm-up)",
                    pid,
                    lambda: sdk_delta(graph_url, smtp, token, page_size=1, first_page_only=True),
                ),
                measure("graph msgraph-sdk", pid, lambda: sdk_delta(graph_url, smtp, token)),
            ]
        report(results, args.messages, time.perf_counter() - started)
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=30)


BASELINE = {
    "graph raw": "ews raw Default",
    "graph raw $select": "ews raw IdOnly",
    "graph msgraph-sdk": "ews exchangelib",
}


def report(results: list[Result], messages: int, total_s: float) -> None:
    """Print one line per way and the JSON summary."""
    by_name = {r.name: r for r in results}
    print(f"{'way':<20}{'entries':>8}{'per s':>9}{'ratio':>8}{'wall s':>8}{'client cpu':>11}"
          f"{'server cpu':>11}")  # fmt: skip
    summary: dict[str, Any] = {"messages_in_mailbox": messages}
    for r in results:
        if r.name.startswith("("):
            continue
        base = by_name.get(BASELINE.get(r.name, ""))
        ratio = r.per_s / base.per_s if base else None
        shown = "base" if ratio is None else f"{ratio:.2f}"
        print(f"{r.name:<20}{r.entries:>8}{r.per_s:>9.0f}{shown:>8}{r.wall_s:>8.2f}"
              f"{r.client_cpu_s:>11.2f}{r.server_cpu_s:>11.2f}")  # fmt: skip
        summary[r.name] = {
            "entries": r.entries,
            "per_s": round(r.per_s),
            "ratio_to_ews": None if ratio is None else round(ratio, 2),
            "wall_s": round(r.wall_s, 2),
            "client_cpu_s": round(r.client_cpu_s, 2),
            "server_cpu_s": round(r.server_cpu_s, 2),
        }
    summary["total_wall_s"] = round(total_s, 1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
