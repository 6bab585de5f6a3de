"""EWS simulator benchmark (not a test): GetItem and SyncFolderItems throughput in items/s, and
what request validation costs in requests/s.

The simulator runs in a process of its own (so on one core, with the GIL to itself); this process
is the client, sending raw SOAP with httpx. A second figure uses exchangelib end to end.

The cost of validating requests against messages.xsd (issue 17) is measured in the same run: a
second simulator process with validation removed and the same mailbox answers the same requests,
in alternating rounds so both see the same machine load; the medians are compared. As machine
load blurs that comparison, the CPU time of the validation itself is measured too.

    .venv/bin/python -m benchmarks.simulator_bench                  # 10,000 messages
    .venv/bin/python -m benchmarks.simulator_bench --messages 20000
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import httpx
from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, Version
from exchangelib.version import EXCHANGE_2016
from lxml import etree

from simulator.settings import DEFAULT_SCHEMA_DIR
from simulator.validation import RequestValidator

SMTP = "alice.horvat1@sim.example"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
SERVE = """
import sys
from simulator import Simulator
from simulator.generator import populate
sim = Simulator(port=0)
if sys.argv[2] == "0":
    sim.ews.request_validator = None  # the baseline only: the simulator has no switch for this
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


def _get_item_body(ids: list[str]) -> str:
    refs = "".join(f"<t:ItemId Id='{i}'/>" for i in ids)
    return (
        "<m:GetItem><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape>"
        f"<m:ItemIds>{refs}</m:ItemIds></m:GetItem>"
    )


def _workloads(ids: list[str]) -> dict[str, bytes]:
    """Requests of the sizes our clients send: one id, a GetItem batch, a sync page."""
    return {
        "get_item_1": _envelope(_get_item_body(ids[:1])),
        "get_item_100": _envelope(_get_item_body(ids[:100])),
        "sync_page_id_only": _envelope(
            "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
            "<m:SyncFolderId><t:DistinguishedFolderId Id='inbox'/></m:SyncFolderId>"
            "<m:MaxChangesReturned>100</m:MaxChangesReturned></m:SyncFolderItems>"
        ),
    }


def _rate(client: httpx.Client, url: str, request: bytes, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        client.post(url, content=request).raise_for_status()
    return count / (time.perf_counter() - started)


def _cpu_s(pid: int) -> float:
    """A process's user + system CPU seconds (Linux), which other processes' load barely moves."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _validation_cost(
    client: httpx.Client, urls: dict[str, str], pids: dict[str, int], ids: list[str],
    rounds: int = 5,
) -> dict[str, dict[str, float]]:
    """Requests/s with and without request validation, per workload: the median of ``rounds``
    alternating rounds of 200 requests (20 for the batch of 100); and each simulator's CPU time
    per request over all rounds."""
    results: dict[str, dict[str, float]] = {}
    for name, request in _workloads(ids).items():
        for url in urls.values():  # same answer from both, or the comparison means nothing
            answer = client.post(url, content=request).content
            if b'ResponseClass="Error"' in answer or b"Fault>" in answer:
                raise SystemExit(f"{name}: {url} answered an error: {answer[:300]!r}")
        count = 20 if name == "get_item_100" else 200
        rates: dict[str, list[float]] = {label: [] for label in urls}
        cpu = dict.fromkeys(urls, 0.0)
        for _ in range(rounds):
            for label, url in urls.items():
                before = _cpu_s(pids[label])
                rates[label].append(_rate(client, url, request, count))
                cpu[label] += _cpu_s(pids[label]) - before
        medians = {label: statistics.median(values) for label, values in rates.items()}
        per_request_us = {label: 1e6 * spent / (rounds * count) for label, spent in cpu.items()}
        results[name] = {
            "validated_req_per_s": round(medians["validated"]),
            "unvalidated_req_per_s": round(medians["unvalidated"]),
            "validated_server_cpu_us": round(per_request_us["validated"]),
            "unvalidated_server_cpu_us": round(per_request_us["unvalidated"]),
        }
    return results


def _check_cost_us(ids: list[str], repeat: int = 300) -> dict[str, float]:
    """CPU microseconds of validating each workload's request, in this process: the best of
    ``repeat`` (the figure machine load disturbs least)."""
    validator = RequestValidator(DEFAULT_SCHEMA_DIR)
    costs: dict[str, float] = {}
    for name, request in _workloads(ids).items():
        root = etree.fromstring(request)
        best = float("inf")
        for _ in range(repeat):
            started = time.process_time()
            validator.check(request, root)
            best = min(best, time.process_time() - started)
        costs[name] = round(best * 1e6, 1)
    return costs


def _serve(messages: int, validate: bool) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(  # noqa: S603 - our own interpreter running our own script
        [sys.executable, "-c", SERVE, str(messages), "1" if validate else "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    return server, server.stdout.readline().strip() if server.stdout else ""


def _stop(server: subprocess.Popen[str]) -> None:
    if server.stdin:
        server.stdin.close()
    server.wait(timeout=30)


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
    servers: list[subprocess.Popen[str]] = []
    try:
        server, url = _serve(args.messages, validate=True)
        servers.append(server)
        plain, plain_url = _serve(args.messages, validate=False)
        servers.append(plain)
        auth = ("svc-mfr@sim.example", "simulator")
        with httpx.Client(auth=auth, timeout=60) as client:
            ids, id_only_s = _sync(client, url, "IdOnly")
            _, default_s = _sync(client, url, "Default")
            get_s = _get_items(client, url, ids)
        results: dict[str, object] = {
            "items": len(ids),
            "sync_id_only_items_per_s": round(len(ids) / id_only_s),
            "sync_default_items_per_s": round(len(ids) / default_s),
            "get_item_items_per_s": round(len(ids) / get_s),
            "exchangelib_sync_items_per_s": round(_exchangelib(url, len(ids))),
        }
        with httpx.Client(auth=auth, timeout=60) as client:
            # The generator is seeded: both processes hold the same mailbox and the same ids.
            urls = {"validated": url, "unvalidated": plain_url}
            pids = {"validated": server.pid, "unvalidated": plain.pid}
            results["request_validation"] = _validation_cost(client, urls, pids, ids)
        results["validation_cpu_us_per_request"] = _check_cost_us(ids)
        print(json.dumps(results))
    finally:
        for running in servers:
            _stop(running)


if __name__ == "__main__":
    main()
