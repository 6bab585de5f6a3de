"""Extractor benchmark (not a test): initial-sync throughput into the state topics, next to a plain
exchangelib loop and to the simulator's own GetItem serving rate, all against the same simulator
in the same run.

    .venv/bin/python -m benchmarks.extractor_bench                  # 10,000 messages
    .venv/bin/python -m benchmarks.extractor_bench --messages 20000

The simulator runs in a process of its own (one core, its own GIL), as Exchange would; this
process is the client. Three figures, in items/s:

* ``simulator_get_item``: raw GetItem requests (httpx, batches of 100, the extractor's exact
  AdditionalProperties), answers not even parsed: the most any client could get out of this
  simulator for the metadata the extractor needs.
* ``plain_exchangelib``: what a hand-written replicator would do, ``folder.sync_items(only_fields=
  ...)`` with every field in the sync response, nothing published.
* ``extractor``: the initial sync as production runs it (IdOnly pages, GetItem batches, Avro,
  a flush and a checkpoint per page, the local store), on the embedded bus.

The goals (issue 13): extractor >= 2x plain exchangelib and >= 60 % of the simulator's rate.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, Version
from exchangelib.version import EXCHANGE_2016
from lxml import etree

from extractor.exchange import ITEM_FIELDS, register_fields
from mfr.ews import EwsConnection, ExchangeSettings
from tests.extractor.harness import Extraction

SERVICE, PASSWORD, MAILBOX = "bench@sim.example", "bench-pw", "bench-box@sim.example"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
SERVE = f"""
import sys
from simulator import Simulator, SimulatorSection
sim = Simulator(SimulatorSection(port=0))
sim.add_service_account({SERVICE!r}, {PASSWORD!r}, impersonate={{"*"}})
sim.control.create_mailbox({MAILBOX!r})
for n in range(int(sys.argv[1])):
    sim.control.create_item({MAILBOX!r}, "inbox", subject=f"message {{n}}", new_mail=False,
                            sender={{"name": "Sender", "email": "s@example.com"}},
                            to=[{MAILBOX!r}], categories=["Blue"])
with sim:
    print(sim.endpoint_url, flush=True)
    sys.stdin.read()
"""
# What extractor.exchange asks GetItem for (ITEM_FIELDS as exchangelib spells them on the wire).
PROPERTIES = "".join(
    [f"<t:FieldURI FieldURI='{f}'/>" for f in (
        "item:ParentFolderId", "item:ItemClass", "item:Sensitivity", "item:Subject",
        "message:Sender", "message:From", "message:ToRecipients", "message:CcRecipients",
        "message:BccRecipients", "item:DateTimeSent", "item:DateTimeReceived",
        "item:DateTimeCreated", "item:LastModifiedTime", "item:Size", "item:Importance",
        "message:IsRead", "item:Categories", "item:HasAttachments", "message:InternetMessageId",
        "item:ConversationId")]
    + ["<t:ExtendedFieldURI PropertyTag='0x1090' PropertyType='Integer'/>",
       "<t:ExtendedFieldURI PropertyTag='0x300b' PropertyType='Binary'/>"]
)


def _envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><s:Envelope '
        f'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="{M}" xmlns:t="{T}">'
        '<s:Header><t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation>'
        f"<t:ConnectingSID><t:PrimarySmtpAddress>{MAILBOX}</t:PrimarySmtpAddress>"
        f"</t:ConnectingSID></t:ExchangeImpersonation></s:Header><s:Body>{body}</s:Body>"
        "</s:Envelope>"
    ).encode()


def simulator_get_item(url: str) -> tuple[int, float]:
    """(items, seconds) for raw GetItem batches of 100 over every inbox item."""
    ids: list[str] = []
    state = ""
    with httpx.Client(auth=(SERVICE, PASSWORD), timeout=60) as client:
        while True:  # the ids, untimed
            body = ("<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
                    "</m:ItemShape><m:SyncFolderId><t:DistinguishedFolderId Id='inbox'/>"
                    f"</m:SyncFolderId>{state}<m:MaxChangesReturned>512</m:MaxChangesReturned>"
                    "</m:SyncFolderItems>")
            root = etree.fromstring(client.post(url, content=_envelope(body)).content)
            ids += [e.get("Id", "") for e in root.iter(f"{{{T}}}ItemId")]
            state = f"<m:SyncState>{root.findtext(f'.//{{{M}}}SyncState')}</m:SyncState>"
            if root.findtext(f".//{{{M}}}IncludesLastItemInRange") == "true":
                break
        started = time.perf_counter()
        for start in range(0, len(ids), 100):
            refs = "".join(f"<t:ItemId Id='{i}'/>" for i in ids[start:start + 100])
            body = (f"<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape>"
                    f"<t:AdditionalProperties>{PROPERTIES}</t:AdditionalProperties>"
                    f"</m:ItemShape><m:ItemIds>{refs}</m:ItemIds></m:GetItem>")
            answer = client.post(url, content=_envelope(body))
            answer.raise_for_status()
            if b'ResponseClass="Error"' in answer.content:
                raise SystemExit(f"GetItem failed: {answer.content[:300]!r}")
        return len(ids), time.perf_counter() - started


def plain_exchangelib(url: str) -> tuple[int, float]:
    """(items, seconds) for a plain exchangelib loop syncing every item with our fields."""
    register_fields()
    config = Configuration(service_endpoint=url, credentials=Credentials(SERVICE, PASSWORD),
                           auth_type=BASIC, version=Version(EXCHANGE_2016))
    account = Account(MAILBOX, config=config, autodiscover=False, access_type=IMPERSONATION)
    fields = [f for f in ITEM_FIELDS if f != "parent_folder_id"]
    started = time.perf_counter()
    count = sum(1 for _ in account.inbox.sync_items(only_fields=fields, max_changes_returned=512))
    return count, time.perf_counter() - started


def extractor(url: str, workdir: Path) -> float:
    """Seconds for the extractor's initial sync of the mailbox, published durably."""
    settings = ExchangeSettings(endpoint=url, auth="basic",  # type: ignore[arg-type]
                                service_account=SERVICE, password=PASSWORD,  # type: ignore[arg-type]
                                version="Exchange2016")
    extraction = Extraction(EwsConnection(settings), MAILBOX, workdir)
    started = time.perf_counter()
    extraction.run()
    elapsed = time.perf_counter() - started
    extraction.close()
    return elapsed


def main() -> None:
    """Run all three, print items/s and the two ratios as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    server = subprocess.Popen(  # noqa: S603 - our own interpreter running our own script
        [sys.executable, "-c", SERVE, str(args.messages)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = server.stdout.readline().strip() if server.stdout else ""
        if not url:
            raise SystemExit("the simulator did not start")
        served, serve_s = simulator_get_item(url)
        synced, plain_s = plain_exchangelib(url)
        if served != args.messages or synced != args.messages:
            raise SystemExit(f"expected {args.messages} items, got {served} and {synced}")
        with tempfile.TemporaryDirectory() as tmp:
            ours_s = extractor(url, Path(tmp))
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=60)
    rates = {name: args.messages / seconds for name, seconds in (
        ("simulator_get_item", serve_s), ("plain_exchangelib", plain_s), ("extractor", ours_s))}
    print(json.dumps({
        "messages": args.messages,
        **{f"{name}_items_per_s": round(rate) for name, rate in rates.items()},
        "extractor_vs_plain_exchangelib": round(rates["extractor"] / rates["plain_exchangelib"], 2),
        "extractor_vs_simulator_get_item": round(
            rates["extractor"] / rates["simulator_get_item"], 2),
    }, indent=2))


if __name__ == "__main__":
    main()
