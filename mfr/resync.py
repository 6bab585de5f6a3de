"""Asking the extractor to read a mailbox, or one folder, again from scratch: a ``Resync``
ChangeEvent with source ``Control`` on the changes topic.

Admins repair drift with it (``mfr resync``, the archive's admin page). It travels as a change
event, not a call, for two reasons: the changes topic is keyed by mailbox, so the request is
ordered with that mailbox's other hints and reaches whichever extractor of the consumer group
owns the mailbox now; and nothing but the bus has to know where extractors run. The archive,
which must not import extractor code, produces it through this module. ``id`` names the folder
by its key (a folder's key is its EWS or Graph folder id, which never changes).
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

from mfr.bus import Bus, Producer, open_bus
from mfr.codec import Codec
from mfr.errors import ConfigError
from mfr.settings import BusSettings
from mfr.topics import Topic, normalise_mailbox, record_key, topic_name, topic_specs

MAX_REASON = 500


def resync_event(mailbox: str, folder_key: str | None, reason: str) -> dict[str, Any]:
    """The ChangeEvent datum asking for ``folder_key`` of ``mailbox`` (the whole mailbox when
    None) to be read again from scratch."""
    address = normalise_mailbox(mailbox)
    if "@" not in address:
        raise ConfigError(f"not a mailbox address: {mailbox!r}")
    now = datetime.now(UTC)
    return {
        "event_id": str(uuid.uuid4()), "mailbox": address, "event_type": "Resync",
        "target": "Folder" if folder_key else "Mailbox", "id": folder_key or None,
        "change_key": None, "parent_folder_id": None, "old_id": None,
        "old_parent_folder_id": None, "unread_count": None, "watermark": None,
        "previous_watermark": None, "subscription_id": None, "source": "Control",
        "reason": reason[:MAX_REASON], "event_time": None,
        "received_time": now.replace(microsecond=now.microsecond // 1000 * 1000),
    }


def request_resync(
    producer: Producer, codec: Codec, changes_topic: str, mailbox: str,
    folder_key: str | None, reason: str,
) -> dict[str, Any]:
    """Produce the request and flush it; returns the datum sent."""
    datum = resync_event(mailbox, folder_key, reason)
    producer.produce(changes_topic, record_key(datum["mailbox"]),
                     codec.encode("ChangeEvent", datum))
    producer.flush()
    return datum


class BusResync:
    """Puts resync requests on the bus (the archive's admin page): ``(mailbox, folder key or
    None, reason)``. The bus and producer open at the first request, so an archive whose
    admins never ask needs no connection to the bus; safe to call from several threads."""

    def __init__(self, settings: BusSettings, bus: Bus | None = None) -> None:
        self._settings = settings
        self._bus, self._owns_bus = bus, bus is None
        self._producer: Producer | None = None
        self._codec = Codec()
        self._lock = threading.Lock()

    def __call__(self, mailbox: str, folder_key: str | None, reason: str) -> None:
        with self._lock:
            if self._producer is None:
                if self._bus is None:
                    self._bus = open_bus(self._settings)
                self._bus.ensure_topics(topic_specs(self._settings).values())
                self._producer = self._bus.producer()
            request_resync(self._producer, self._codec, topic_name(self._settings, Topic.CHANGES),
                           mailbox, folder_key, reason)

    def close(self) -> None:
        """Release the producer (and the bus, if this opened it)."""
        with self._lock:
            if self._producer is not None:
                self._producer.close()
            if self._owns_bus and self._bus is not None:
                self._bus.close()
            self._producer = self._bus = None
