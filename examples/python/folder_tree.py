"""Rebuild one mailbox's folder tree from the replication topics and print it with counts.

An example for downstream consumers (search, compliance, analytics), written with nothing of the
pipeline's own code: kafka-python reads the topics, fastavro decodes the records with the ``.avsc``
files of ``schemas/``. What it shows:

* a record is Avro single-object encoded: ``C3 01``, the 8-byte CRC-64-AVRO fingerprint of the
  writer schema (little-endian), then the Avro body. Every released version of a schema is kept
  as a possible writer (found by that fingerprint); the newest schema is the reader;
* the ``content-type`` header says a record is single-object Avro before anything is decoded,
  and the key starts with the mailbox, so other mailboxes' records are skipped undecoded;
* per key, only the highest ``version`` counts (the topics replay, and carry duplicates);
* a withdrawn message (it became Personal or Private) is dropped; a deleted message stays at its
  last known folder, marked; a deleted folder stays in the tree, marked.

Usage: ``python folder_tree.py BOOTSTRAP TOPIC_PREFIX SCHEMA_DIR MAILBOX``
"""

from __future__ import annotations

import io
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema
from kafka import KafkaConsumer, TopicPartition

MARKER = b"\xc3\x01"
SINGLE_OBJECT = b"application/vnd.apache.avro+binary"


class Decoder:
    """Single-object records of one schema, written with any released version, read as the
    newest."""

    def __init__(self, schema_dir: Path, name: str) -> None:
        self.reader = self._parse(schema_dir / f"{name}.avsc")
        released = sorted((schema_dir / "released" / name).glob("*.avsc"))
        paths = [schema_dir / f"{name}.avsc", *released]
        self.writers: dict[bytes, Any] = {}
        for path in paths:
            raw = json.loads(path.read_text(encoding="utf-8"))
            canonical = fastavro.schema.to_parsing_canonical_form(raw)
            fingerprint = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
            self.writers[fingerprint] = self._parse(path)

    @staticmethod
    def _parse(path: Path) -> Any:
        # A fresh name table per file: every version defines the same names.
        return fastavro.parse_schema(json.loads(path.read_text(encoding="utf-8")), named_schemas={})

    def decode(self, value: bytes) -> dict[str, Any]:
        """The record's fields in the newest schema."""
        if value[:2] != MARKER:
            raise ValueError("not single-object encoded")
        writer = self.writers.get(value[2:10])
        if writer is None:
            raise ValueError(f"unknown schema fingerprint {value[2:10].hex()}: a newer release?")
        body = io.BytesIO(value[10:])
        datum = fastavro.schemaless_reader(body, writer, self.reader)
        if not isinstance(datum, dict):
            raise ValueError("not a record")
        return datum


def read_all(bootstrap: str, *topics: str) -> list[Any]:
    """Every record the topics hold now, from the oldest, without a consumer group."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(topic, partition) for topic in topics
                      for partition in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        records: list[Any] = []
        while any(consumer.position(p) < end[p] for p in partitions):
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def is_avro(record: Any) -> bool:
    """The content-type header says what the value is, before decoding it."""
    return any(k == "content-type" and v.startswith(SINGLE_OBJECT) for k, v in record.headers or [])


def mailbox_of(key: str) -> str:
    """Keys are the mailbox, then (space-separated) the folder's or message's key."""
    return key.split(" ", 1)[0]


def keep_newest(held: dict[str, dict[str, Any]], key: str, state: dict[str, Any]) -> None:
    """Keep ``state`` unless the same or a higher version is held (replays, duplicates)."""
    if key not in held or state["version"] > held[key]["version"]:
        held[key] = state


def render(mailbox: str, folders: list[dict[str, Any]], messages: list[dict[str, Any]]) -> str:
    """The tree, depth-first, siblings by name, each folder with its counts."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # messages, deleted, unread
    for message in messages:
        if message["withdrawn"]:
            continue  # Personal or Private now: it must not be shown or counted
        c = counts[message["last_known_folder_key"]]
        c[0] += 1
        c[1] += message["deleted"]
        c[2] += message["is_read"] is False and not message["deleted"]
    by_key = {f["folder_key"]: f for f in folders}
    children: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for folder in by_key.values():
        parent = folder["parent_folder_key"]
        children[parent if parent in by_key else ""].append(folder)
    lines = [f"mailbox {mailbox}"]
    seen: set[str] = set()

    def walk(parent: str, depth: int) -> None:
        siblings = sorted(children[parent], key=lambda f: (
            f["deleted"], f["display_name"].lower(), f["folder_key"]))
        for folder in siblings:
            if folder["folder_key"] in seen:
                continue  # a parent cycle in bad data must not loop forever
            seen.add(folder["folder_key"])
            n, deleted, unread = counts.get(folder["folder_key"], [0, 0, 0])
            mark = " (deleted)" if folder["deleted"] else ""
            lines.append(f"{'  ' * depth}{folder['display_name']}{mark}: "
                         f"{n} messages, {deleted} deleted, {unread} unread")
            walk(folder["folder_key"], depth + 1)

    walk("", 0)
    return "\n".join(lines) + "\n"


def main(bootstrap: str, prefix: str, schema_dir: str, mailbox: str) -> None:
    """Read both topics from the beginning, keep the newest state per key, print the tree."""
    mailbox = mailbox.strip().lower()
    decoders = {f"{prefix}.folders": Decoder(Path(schema_dir), "FolderState"),
                f"{prefix}.messages": Decoder(Path(schema_dir), "MessageState")}
    held: dict[str, dict[str, dict[str, Any]]] = {topic: {} for topic in decoders}
    for record in read_all(bootstrap, *decoders):
        key = record.key.decode("utf-8")
        if not is_avro(record) or mailbox_of(key) != mailbox:
            continue
        keep_newest(held[record.topic], key, decoders[record.topic].decode(record.value))
    folders, messages = (list(held[topic].values()) for topic in decoders)
    sys.stdout.write(render(mailbox, folders, messages))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: folder_tree.py BOOTSTRAP TOPIC_PREFIX SCHEMA_DIR MAILBOX")
    main(*sys.argv[1:])
