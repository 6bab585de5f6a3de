"""An extractor wired as in production (embedded bus, local store, checkpoints), driven by tests,
through EWS (an ``EwsConnection``) or Microsoft Graph (a ``GraphClient``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractor.checkpoints import Checkpoints
from extractor.cycle import Hints
from extractor.exchange import MailboxReader
from extractor.filters import FilterSettings
from extractor.graphreader import GraphReader
from extractor.mailbox import MailboxSync, SyncResult
from extractor.publish import StatePublisher
from extractor.reader import Reader
from extractor.requests import SyncRequest
from extractor.store import StateStore
from mfr.bus import Bus, open_bus
from mfr.codec import Codec
from mfr.ews import EwsConnection
from mfr.graph import GraphClient
from mfr.settings import BusSettings
from mfr.topics import Topic, topic_specs


@dataclass
class Extraction:
    """One mailbox's extractor, restartable from what is on disk and on the bus."""

    connection: EwsConnection | GraphClient
    mailbox: str
    workdir: Path
    page_size: int = 100  # Graph: messages per delta page

    def __post_init__(self) -> None:
        self.codec = Codec()
        self.settings = BusSettings(embedded_path=self.workdir / "bus.sqlite3")
        self.bus = open_bus(self.settings)
        specs = topic_specs(self.settings)
        self.bus.ensure_topics(specs.values())
        self.topics = {t: s.name for t, s in specs.items()}
        self.restart()

    def restart(self, reader: Reader | None = None) -> None:
        """A fresh process: checkpoints from the bus, states from the local store file."""
        self.reader = reader or self.new_reader()
        self.checkpoints = Checkpoints(self.reader.api)
        self.checkpoints.load(self.bus, self.topics[Topic.CHECKPOINTS], self.codec)
        self.store = StateStore(self.workdir / "state.sqlite3", self.codec)
        self.producer = self.bus.producer()
        publisher = StatePublisher(self.producer, self.codec, self.store, self.topics,
                                   self.reader.api)
        self.sync = MailboxSync(self.reader, self.store, self.checkpoints, publisher,
                                FilterSettings())

    def new_reader(self) -> Reader:
        """The reader production would use for this connection."""
        if isinstance(self.connection, GraphClient):
            return GraphReader(self.connection, self.mailbox, page_size=self.page_size)
        return MailboxReader(self.connection, self.mailbox)

    def run(self, *, full: bool = False, hierarchy: bool = False, folders: set[str] | None = None,
            hints: Hints | None = None, messages: set[str] | None = None,
            folder_checks: set[str] | None = None) -> SyncResult:
        """One sync cycle."""
        request = SyncRequest(self.mailbox, full=full, hierarchy=hierarchy,
                              folders=folders or set(), hints=hints or Hints(),
                              messages=messages or set(), folder_checks=folder_checks or set())
        return self.sync.run(request)

    def latest(self, topic: Topic) -> dict[str, dict[str, Any]]:
        """The highest-version record per key on a state topic, read from the bus."""
        latest: dict[str, dict[str, Any]] = {}
        with self.bus.consumer(f"check-{id(self)}-{topic}", [self.topics[topic]]) as consumer:
            consumer.seek_to_beginning()
            # The embedded bus has every flushed record at once: one empty poll is the end.
            while records := consumer.poll(max_records=5000, timeout_s=0.02):
                for record in records:
                    datum = self.codec.decode(record.value).datum
                    key = record.key or ""
                    if key not in latest or datum["version"] > latest[key]["version"]:
                        latest[key] = datum
        return latest

    def messages(self) -> list[dict[str, Any]]:
        """Latest message states on the bus."""
        return list(self.latest(Topic.MESSAGES).values())

    def folders(self) -> dict[str, dict[str, Any]]:
        """Latest folder states on the bus, by folder key."""
        return {d["folder_key"]: d for d in self.latest(Topic.FOLDERS).values()}

    def close(self) -> None:
        """Stop (without the ceremony a crash would skip anyway)."""
        self.producer.close()
        self.store.close()
        self.bus.close()


def history(bus: Bus, settings: BusSettings, topic: Topic) -> list[tuple[str | None, Any]]:
    """Every (key, datum) a topic holds, in order; done after two empty polls in a row."""
    codec, found = Codec(), list[tuple[str | None, Any]]()
    with bus.consumer(f"read-{uuid.uuid4().hex}", [topic_specs(settings)[topic].name]) as c:
        c.seek_to_beginning()
        idle = 0
        while idle < 2:
            records = c.poll(max_records=5000, timeout_s=0.5)
            idle = 0 if records else idle + 1
            found += [(r.key, codec.decode(r.value).datum) for r in records]
    return found


def latest(bus: Bus, settings: BusSettings, topic: Topic) -> list[dict[str, Any]]:
    """The highest-version (else last) record per key on a topic."""
    best: dict[str | None, dict[str, Any]] = {}
    for key, datum in history(bus, settings, topic):
        if key not in best or datum.get("version", 0) >= best[key].get("version", 0):
            best[key] = datum
    return list(best.values())
