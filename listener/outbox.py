"""The listener's only way onto the bus: change events in, a future that says they are stored.

One worker thread owns the producer. It takes every batch queued so far, produces them, flushes
once, then resolves each batch's future: done when the bus stored the records, failed (with the
``BusError``) when it did not. After a failed flush the producer is closed and a fresh one made, so
records that were not stored are neither kept nor written twice behind the caller's back: the
caller decides whether to try again (streaming) or to refuse the notification (push).

MailboxStatus records (Graph mode reports each mailbox's subscription state on the status topic)
go the same way, so there is still one producer.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import structlog

from mfr.bus import Bus, Producer
from mfr.codec import Codec
from mfr.errors import BusError, MfrError
from mfr.settings import BusSettings
from mfr.topics import Topic, record_key, status_key, topic_name

log = structlog.get_logger(__name__)

_STOP = object()


@dataclass
class _Batch:
    records: list[tuple[str, str, bytes]]  # topic, key, value
    future: Future[None] = field(default_factory=Future)


class Outbox:
    """Writes ChangeEvents to the changes topic, keyed by mailbox, from one thread."""

    def __init__(
        self,
        bus: Bus,
        settings: BusSettings,
        codec: Codec,
        on_flush: Callable[[float, int, bool], None] | None = None,
        flush_timeout_s: float = 30.0,
    ) -> None:
        self._bus = bus
        self._topic = topic_name(settings, Topic.CHANGES)
        self._status_topic = topic_name(settings, Topic.STATUS)
        self._codec = codec
        self._on_flush = on_flush
        self._flush_timeout_s = flush_timeout_s
        self._queue: queue.Queue[Any] = queue.Queue()
        self._producer: Producer | None = None
        self._thread: threading.Thread | None = None
        self.healthy = True
        self.last_error: str | None = None

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(target=self._run, name="listener-outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish what is queued, then stop the worker and close the producer."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout=60)
            self._thread = None
        if self._producer is not None:
            self._close_producer()

    def submit(self, events: Sequence[dict[str, Any]]) -> Future[None]:
        """Queue ChangeEvent datums; the future completes once all are stored (or failed)."""
        try:
            records = [
                (self._topic, record_key(event["mailbox"]),
                 self._codec.encode("ChangeEvent", event))
                for event in events
            ]
        except (MfrError, ValueError) as exc:
            return _failed(exc)
        return self._queue_batch(records)

    def submit_status(self, statuses: Sequence[dict[str, Any]]) -> Future[None]:
        """Queue MailboxStatus datums for the status topic (keyed by mailbox and component)."""
        try:
            records = [
                (self._status_topic, status_key(status["mailbox"], status["component"]),
                 self._codec.encode("MailboxStatus", status))
                for status in statuses
            ]
        except (MfrError, ValueError) as exc:
            return _failed(exc)
        return self._queue_batch(records)

    def _queue_batch(self, records: list[tuple[str, str, bytes]]) -> Future[None]:
        batch = _Batch(records)
        if not records:
            batch.future.set_result(None)
        else:
            self._queue.put(batch)
        return batch.future

    def publish(self, events: Sequence[dict[str, Any]], timeout_s: float | None = None) -> None:
        """Queue and wait until stored; raises ``BusError`` (or ``TimeoutError``) otherwise.

        After a timeout the batch is withdrawn if the worker has not taken it yet; if it has,
        it may still be stored (a duplicate hint, recognisable by its own event ids)."""
        future = self.submit(events)
        try:
            future.result(timeout=timeout_s)
        except TimeoutError:
            future.cancel()
            raise

    def publish_until_stored(self, events: Sequence[dict[str, Any]],
                             stop: threading.Event) -> bool:
        """Write events, trying again (with growing pauses) until the bus stores them or ``stop``
        is set; for events nobody can be asked to send again. Whether they were stored."""
        pause = 0.5
        while True:
            try:
                self.publish(events, timeout_s=120)
                return True
            except (BusError, TimeoutError) as exc:
                log.warning("bus refused change events; trying again", error=str(exc) or "timeout",
                            records=len(events))
            if stop.wait(pause):
                log.error("stopped with change events unstored", records=len(events))
                return False
            pause = min(30.0, pause * 2)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batches = [first]
            stop = False
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop = True
                    break
                batches.append(more)
            self._write(batches)
            if stop:
                return

    def _write(self, batches: list[_Batch]) -> None:
        batches = [b for b in batches if b.future.set_running_or_notify_cancel()]
        if not batches:
            return
        started = time.monotonic()
        count = sum(len(b.records) for b in batches)
        try:
            producer = self._producer or self._bus.producer()
            self._producer = producer
            for batch in batches:
                for topic, key, value in batch.records:
                    producer.produce(topic, key, value)
            producer.flush(self._flush_timeout_s)
        except BusError as exc:
            self.healthy, self.last_error = False, str(exc)
            log.warning("change events not stored", records=count, error=str(exc))
            self._close_producer()
            for batch in batches:
                batch.future.set_exception(exc)
            self._report(started, count, ok=False)
            return
        self.healthy, self.last_error = True, None
        for batch in batches:
            batch.future.set_result(None)
        self._report(started, count, ok=True)

    def _report(self, started: float, count: int, ok: bool) -> None:
        if self._on_flush is not None:
            self._on_flush(time.monotonic() - started, count, ok)

    def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.close(timeout_s=1.0)
        except BusError as exc:
            # Closing flushes first; what it could not store was already reported as failed.
            log.debug("producer closed with records unstored", error=str(exc))


def _failed(exc: Exception) -> Future[None]:
    failed: Future[None] = Future()
    failed.set_exception(exc)
    return failed
