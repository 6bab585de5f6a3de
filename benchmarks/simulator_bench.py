"""EWS simulator benchmark (not a test): GetItem and SyncFolderItems throughput in items/s.

The simulator runs in a process of its own (so on one core, with the GIL to itself); this process
is the client, sending raw SOAP with httpx. A second figure uses exchangelib end to end.

    .venv/bin/python -m benchmarks.simulator_bench                  # 10,000 messages
    .venv/bin/python -m benchmarks.simulator_bench --messages 20000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

import httpx
from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, Version
from exchangelib.version import EXCHANGE_2016
from lxml import etree

SMTP = "alice.horvat1@sim.example"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
SERVE = """
import sys
from simulator import Simulator
from simulator.generator import populate
sim = Simulator(port=0)
populate(sim.control, 1, int(sys.argv[1]), 1, "sim.example", "pw")
sim.start()
print(sim.endpoint_url, flush=True)
sys.stdin.read()
sim.stop()
"""


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope '
        f'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{M}" xmlns:t="{T}">'
        '<s:Header><t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation>'
        f"<t:ConnectingSID><t:PrimarySmtpAddress>{SMTP}</t:PrimarySmtpAddress></t:ConnectingSID>"
        f"</t:ExchangeImpersonation></s:Header><s:Body>{body}</s:Body></s:Envelope>"
    ).encode()


def _sync(client: httpx.Client, url: str, shape: str) -> tuple[list[str], float]:
    ids: list[str] = []
    state = ""
    started = time.perf_counter()
    while True:
        body = (
            f"<m:SyncFolderItems><m:ItemShape><t:BaseShape>{shape}</t:BaseShape></m:ItemShape>"
            "<m:SyncFolderId><t:DistinguishedFolderId Id='inbox'/></m:SyncFolderId>"
            f"{state}<m:MaxChangesReturned>512</m:MaxChangesReturned></m:SyncFolderItems>"
        )
        root = etree.fromstring(client.post(url, content=_envelope(body)).content)
        ids += [e.get("Id", "") for e in root.iter(f"{{{T}}}ItemId")]
        state = f"<m:SyncState>{root.findtext(f'.//{{{M}}}SyncState')}</m:SyncState>"
        if root.findtext(f".//{{{M}}}IncludesLastItemInRange") == "true":
            return ids, time.perf_counter() - started


def _get_items(client: httpx.Client, url: str, ids: list[str]) -> float:
    started = time.perf_counter()
    for start in range(0, len(ids), 100):
        refs = "".join(f"<t:ItemId Id='{i}'/>" for i in ids[start : start + 100])
        body = (
            "<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape><t:AdditionalProperties>"
            "<t:FieldURI FieldURI='item:Categories'/><t:FieldURI FieldURI='message:ToRecipients'/>"
            "<t:ExtendedFieldURI PropertyTag='0x300B' PropertyType='Binary'/>"
            f"</t:AdditionalProperties></m:ItemShape><m:ItemIds>{refs}</m:ItemIds></m:GetItem>"
        )
        response = client.post(url, content=_envelope(body))
        response.raise_for_status()
    return time.perf_counter() - started


def _exchangelib(url: str, count: int) -> float:
    config = Configuration(
        service_endpoint=url, credentials=Credentials("svc-mfr@sim.example", "simulator"),
        auth_type=BASIC, version=Version(EXCHANGE_2016),
    )  # fmt: skip
    account = Account(SMTP, config=config, autodiscover=False, access_type=IMPERSONATION)
    started = time.perf_counter()
    got = sum(1 for _ in account.inbox.sync_items(only_fields=["subject", "is_read"],
                                                   max_changes_returned=512))  # fmt: skip
    elapsed = time.perf_counter() - started
    if got < count:
        raise SystemExit(f"exchangelib synced {got} of {count} items")
    return got / elapsed


def main() -> None:
    """Run the benchmark and print one JSON line of results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    server = subprocess.Popen(  # noqa: S603 - our own interpreter running our own script
        [sys.executable, "-c", SERVE, str(args.messages)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = server.stdout.readline().strip() if server.stdout else ""
        auth = ("svc-mfr@sim.example", "simulator")
        with httpx.Client(auth=auth, timeout=60) as client:
            ids, id_only_s = _sync(client, url, "IdOnly")
            _, default_s = _sync(client, url, "Default")
            get_s = _get_items(client, url, ids)
        results = {
            "items": len(ids),
            "sync_id_only_items_per_s": round(len(ids) / id_only_s),
            "sync_default_items_per_s": round(len(ids) / default_s),
            "get_item_items_per_s": round(len(ids) / get_s),
            "exchangelib_sync_items_per_s": round(_exchangelib(url, len(ids))),
        }
        print(json.dumps(results))
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
