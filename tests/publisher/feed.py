"""A workload of state records for the publisher: many keys, several versions each, duplicated
and out of order, produced quickly (fastavro, framed exactly as mfr.codec frames records)."""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fastavro

from mfr.bus import Producer
from mfr.codec import MARKER, Codec
from mfr.topics import record_key

T0 = 1_700_000_000_000


def fast_encoder(codec: Codec, name: str) -> Callable[[dict[str, Any]], bytes]:
    """Single-object encoding of ``name`` records with fastavro (the avro package is ~30x
    slower, too slow to produce 50,000 records in a test)."""
    entry = codec.entry(name)
    schema = fastavro.parse_schema(json.loads(entry.path.read_text()))
    header = MARKER + entry.fingerprint

    def encode(datum: dict[str, Any]) -> bytes:
        out = io.BytesIO()
        out.write(header)
        fastavro.schemaless_writer(out, schema, datum)
        return out.getvalue()

    return encode


@dataclass
class Workload:
    """What was produced, and what the archive must end with."""

    latest: dict[tuple[str, str], int] = field(default_factory=dict)  # (mailbox, key) -> version
    versions: set[tuple[str, str, int]] = field(default_factory=set)
    folders_latest: dict[tuple[str, str], int] = field(default_factory=dict)
    produced: int = 0


def message_datum(mailbox: str, key: str, version: int) -> dict[str, Any]:
    """A MessageState; later versions move the message and mark it read."""
    folder = "inbox" if version < 3 else "archive"
    return {
        "mailbox": mailbox,
        "message_key": key,
        "item_id": f"{key}-{version}",
        "folder_key": folder,
        "last_known_folder_key": folder,
        "subject": f"{key} version {version}",
        "sender": {"name": "Sender", "email_address": "sender@example.org"},
        "datetime_received": T0 - 3_600_000,
        "is_read": version > 1,
        "version": version,
        "observed_time": T0 + version * 1000,
    }


def folder_datum(mailbox: str, key: str, version: int) -> dict[str, Any]:
    """A FolderState."""
    return {
        "mailbox": mailbox,
        "folder_key": key,
        "folder_id": f"id-{key}",
        "display_name": f"{key} {version}",
        "parent_folder_key": None,
        "version": version,
        "observed_time": T0 + version * 1000,
    }


def produce_workload(
    producer: Producer, topics: dict[str, str], total: int, seed: int = 6
) -> Workload:
    """Produce exactly ``total`` folder and message records (a quarter of them duplicates, many
    keys' versions out of order) across four mailboxes."""
    rng = random.Random(seed)
    codec = Codec()
    encode_message = fast_encoder(codec, "MessageState")
    encode_folder = fast_encoder(codec, "FolderState")
    mailboxes = [f"user{i}@example.com" for i in range(4)]
    work = Workload()
    states: list[tuple[str, str, str, int]] = []  # (kind, mailbox, key, version)
    for mailbox in mailboxes:
        for name in ("inbox", "archive", "projects"):
            for version in (1, 2, 3):
                states.append(("folder", mailbox, name, version))
    unique_target = total * 3 // 4
    n = 0
    while len(states) < unique_target:
        mailbox = mailboxes[n % 4]
        key = f"msg-{n}"
        versions = list(range(1, rng.randint(1, 4) + 1))
        if rng.random() < 1 / 3:
            rng.shuffle(versions)
        states += [("message", mailbox, key, v) for v in versions]
        n += 1
    del states[unique_target:]
    duplicates = [states[rng.randrange(len(states))] for _ in range(total - len(states))]
    ordered = states + duplicates
    # Half the records keep their production order, half land anywhere: versions of a key
    # arrive out of order, and duplicates before or after their originals.
    moved = ordered[1::2]
    rng.shuffle(moved)
    ordered[1::2] = moved
    for kind, mailbox, key, version in ordered:
        if kind == "folder":
            value = encode_folder(folder_datum(mailbox, key, version))
            work.folders_latest[(mailbox, key)] = max(
                version, work.folders_latest.get((mailbox, key), 0)
            )
        else:
            value = encode_message(message_datum(mailbox, key, version))
            work.latest[(mailbox, key)] = max(version, work.latest.get((mailbox, key), 0))
            work.versions.add((mailbox, key, version))
        producer.produce(topics[kind], record_key(mailbox, key), value)
        work.produced += 1
    producer.flush()
    return work
