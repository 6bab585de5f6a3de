"""Extractor benchmark (not a test): initial-sync throughput into the state topics, against a
plain exchangelib loop fetching the same fields from the same simulator in the same run.

    .venv/bin/python -m benchmarks.extractor_bench                  # 10,000 messages
    .venv/bin/python -m benchmarks.extractor_bench --messages 20000

The baseline is what a hand-written replicator would do: ``folder.sync_items(only_fields=...)``,
every field in the sync response, nothing published. The extractor does more (IdOnly pages, GetItem
batches, Avro encoding, durable publishing, a checkpoint per page), so a ratio near 1 means the
extra guarantees cost little.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, Version
from exchangelib.version import EXCHANGE_2016

from extractor.exchange import ITEM_FIELDS, register_fields
from mfr.ews import EwsConnection, ExchangeSettings
from simulator import Simulator, SimulatorSection
from tests.extractor.harness import Extraction

SERVICE, PASSWORD = "bench@sim.example", "bench-pw"


def baseline(sim: Simulator, mailbox: str) -> float:
    """Seconds for a plain exchangelib loop to sync every item with the extractor's fields."""
    register_fields()
    config = Configuration(service_endpoint=sim.endpoint_url, credentials=Credentials(
        SERVICE, PASSWORD), auth_type=BASIC, version=Version(EXCHANGE_2016))
    account = Account(mailbox, config=config, autodiscover=False, access_type=IMPERSONATION)
    fields = [f for f in ITEM_FIELDS if f != "parent_folder_id"]
    started = time.perf_counter()
    count = sum(1 for _ in account.inbox.sync_items(only_fields=fields, max_changes_returned=512))
    elapsed = time.perf_counter() - started
    if count == 0:
        raise RuntimeError("the baseline saw no items")
    return elapsed


def extractor(sim: Simulator, mailbox: str, workdir: Path) -> float:
    """Seconds for the extractor's initial sync of the mailbox, published durably."""
    settings = ExchangeSettings(endpoint=sim.endpoint_url, auth="basic",  # type: ignore[arg-type]
                                service_account=SERVICE, password=PASSWORD,  # type: ignore[arg-type]
                                version="Exchange2016")
    extraction = Extraction(EwsConnection(settings), mailbox, workdir)
    started = time.perf_counter()
    extraction.run()
    elapsed = time.perf_counter() - started
    extraction.close()
    return elapsed


def main() -> None:
    """Run both, print items/s and the ratio as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    with Simulator(SimulatorSection(port=0)) as sim, tempfile.TemporaryDirectory() as tmp:
        sim.add_service_account(SERVICE, PASSWORD, impersonate={"*"})
        mailbox = "bench-box@sim.example"
        sim.control.create_mailbox(mailbox)
        for n in range(args.messages):
            sim.control.create_item(mailbox, "inbox", subject=f"message {n}", new_mail=False,
                                    sender={"name": "Sender", "email": "s@example.com"},
                                    to=["bench-box@sim.example"], categories=["Blue"])
        plain = baseline(sim, mailbox)
        ours = extractor(sim, mailbox, Path(tmp))
    print(json.dumps({
        "messages": args.messages,
        "plain_exchangelib_items_per_s": round(args.messages / plain),
        "extractor_items_per_s": round(args.messages / ours),
        "extractor_vs_plain_ratio": round(plain / ours, 2),
    }, indent=2))


if __name__ == "__main__":
    main()
