"""The extractor service: consume change events, run mailbox sync cycles, publish, commit.

Events of one mailbox are gathered for ``coalesce_s`` and served by one cycle; up to
``parallel_mailboxes`` mailboxes sync at once in worker threads while the consumer keeps polling.
Offsets are committed only for records whose cycle has published (see ``Ledger``). A cycle that
fails is retried with growing pauses; after ``attempts`` it is given up: its events go to the
dead-letter topic with the reason, and the mailbox is reported Failing (the next event or resync
for it starts afresh). Undecodable records are dead-lettered at once.

``settings.exchange.api`` picks the reader: EWS through an ``EwsConnection``, or Microsoft Graph
through one ``GraphClient`` per process, shared by the parallel mailboxes (its throttle keeps
each mailbox within Outlook's 4 concurrent requests and holds all of a mailbox's requests
during a 429's Retry-After). A refusal of access (Graph 401/403, or the identity platform
refusing the application) is not retried: an admin must act, so the mailbox is reported Failing
with the cause at once and its events dead-lettered; the next event for it tries again.

Several extractors may share the consumer group (on Kafka; the embedded bus has one reader per
group). The group decides which partitions, so which mailboxes, each one syncs (``ownership.py``):
partitions handed over are loaded before any of their records is consumed, and partitions taken
away are settled before the group hands them on: their running cycles finished or abandoned
(the next Exchange call of an abandoned one raises, so what it published stays whole pages), their
waiting events dropped uncommitted, the settled prefix of their records committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

import structlog

from extractor.checkpoints import Checkpoints
from extractor.drift import drift_check
from extractor.exchange import MailboxReader
from extractor.graphreader import GraphReader
from extractor.health import Health
from extractor.ledger import Ledger
from extractor.mailbox import MailboxSync, SyncResult
from extractor.metrics import Metrics
from extractor.ownership import Abandonable, CycleAbandonedError, Ownership
from extractor.publish import MailboxStatus, StatePublisher, dead_letter, now_utc
from extractor.reader import Reader
from extractor.requests import Pending, SyncRequest, request_for
from extractor.settings import ExtractorSettings
from extractor.store import StateStore
from mfr.bus import Bus, Consumer, Producer, Record
from mfr.bus.base import Partition, Rebalance
from mfr.bus.startup import patiently
from mfr.codec import Codec
from mfr.errors import BusError, CodecError, MfrError
from mfr.ews import EwsConnection
from mfr.ews.errors import EwsThrottledError
from mfr.graph import GraphClient
from mfr.graph.errors import GraphAccessDeniedError, GraphThrottledError
from mfr.topics import Topic, status_key, topic_specs

log = structlog.get_logger(__name__)


class Extractor(Rebalance):
    """One extractor process's work; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        settings: ExtractorSettings,
        bus: Bus,
        connection: EwsConnection | GraphClient | None = None,
        codec: Codec | None = None,
    ) -> None:
        """``connection``: how to reach Exchange; None (or one of the other API) builds what
        ``settings.exchange.api`` asks for, owned and closed by the extractor."""
        self.settings = settings.extractor
        self.bus = bus
        self.api = "Graph" if settings.exchange.api == "graph" else "Ews"
        self._owned: GraphClient | None = None
        self.connection: EwsConnection | GraphClient
        if self.api == "Graph" and not isinstance(connection, GraphClient):
            if settings.exchange.graph is None:
                raise ValueError("api = graph needs [exchange.graph]")
            self.connection = self._owned = GraphClient(settings.exchange.graph)
        elif self.api == "Ews" and not isinstance(connection, EwsConnection):
            self.connection = EwsConnection(settings.exchange)
        else:
            assert connection is not None  # noqa: S101 - the branches above cover None
            self.connection = connection
        self.codec = codec = codec or Codec()
        self.metrics = Metrics()
        self.specs = topic_specs(settings.bus)
        self._patience_s = settings.bus.startup_patience_s
        self.topics = {t: s.name for t, s in self.specs.items()}
        self.store = StateStore(self.settings.state_path, codec)
        self.checkpoints = Checkpoints(self.api)
        self.ownership = Ownership(bus, self.topics, codec, self.store, self.checkpoints,
                                   self.settings.state_path)
        self._owner: dict[str, int] = {}  # mailbox -> its partition of the changes topic
        self._assigned: list[int] = []  # partitions handed over, to load before consuming
        self._unconsumed: list[Record] = []  # polled, waiting for their partition's loading
        self._abandoned: set[str] = set()  # mailboxes whose running cycle must stop
        self.status: dict[str, MailboxStatus] = {}
        self._pending: dict[str, Pending] = {}
        self._running: dict[str, tuple[Future[SyncResult], Pending]] = {}
        self._syncs: dict[str, MailboxSync] = {}
        self._started: dict[str, float] = {}  # mailbox -> when its running cycle started
        self._closing = False
        self.health = Health(settings.exchange, self.metrics, self._states, self._waiting_since)
        self._ledger = Ledger()
        self._pool = ThreadPoolExecutor(self.settings.parallel_mailboxes, "mailbox-sync")
        self._producer: Producer | None = None
        self._consumer: Consumer | None = None
        self.ready = threading.Event()
        self._stopping = threading.Event()  # interrupts a drift check's wait
        self._drift = drift_check(self.settings.drift, self._drift_counted, self._stopping)
        self._next_drift = time.monotonic() + self.settings.drift.interval_s

    @property
    def producer(self) -> Producer:
        """The producer (after ``start``)."""
        if self._producer is None:
            raise RuntimeError("the extractor is not started")
        return self._producer

    @property
    def consumer(self) -> Consumer:
        """The consumer of the changes topic (after ``start``)."""
        if self._consumer is None:
            raise RuntimeError("the extractor is not started")
        return self._consumer

    # --- life cycle --------------------------------------------------------------------------
    def start(self, stop: threading.Event | None = None) -> None:
        """Create topics, start consuming: the group assigns partitions (``assigned``) and what
        they need is loaded (``_take_over``) before their first record is."""
        patience_s = self._patience_s
        patiently("creating topics", lambda: self.bus.ensure_topics(self.specs.values()),
                  patience_s, stop)
        partitions = self.ownership.check_partitions()
        self._producer = patiently("connecting a producer", self.bus.producer, patience_s, stop)
        self._consumer = patiently(
            "joining the group",
            lambda: self.bus.consumer(self.settings.group, [self.topics[Topic.CHANGES]],
                                      rebalance=self),
            patience_s, stop)
        log.info("extractor started", partitions=partitions)
        self.ready.set()

    def run(self, stop: threading.Event) -> None:
        """Start, then work until ``stop`` is set; then finish running cycles and close."""
        self.start(stop)
        try:
            while not stop.is_set():
                try:
                    self.step()
                except BusError as exc:
                    if not exc.retriable:
                        raise
                    # A broker restart: what was not committed is polled again once it is back.
                    log.warning("bus unavailable; trying again shortly", reason=str(exc))
                    stop.wait(1.0)
        finally:
            self.close()

    def _states(self) -> list[str]:
        return [status.state for status in list(self.status.values())]

    def _waiting_since(self) -> list[datetime | None]:
        running = [pending for _, pending in list(self._running.values())]
        return [pending.event_time for pending in list(self._pending.values()) + running]

    def close(self) -> None:
        """Wait for running cycles, commit what is settled, release everything. A cycle
        waiting to retry an EWS request gives up at once; its events stay uncommitted, so the
        next start syncs them (SIGTERM leaves a service seconds, not a retry schedule)."""
        self._closing = True
        self.connection.stop()
        self._stopping.set()
        self._pool.shutdown(wait=True)
        self._harvest()
        self._commit()
        if self._consumer is not None:
            self._consumer.close()
        if self._producer is not None:
            self._producer.close()
        self.ownership.close()
        self.store.close()
        if self._owned is not None:
            self._owned.close()

    # --- one turn of the loop ----------------------------------------------------------------
    def step(self, poll_s: float = 0.2) -> None:
        """Poll, dispatch due mailboxes, harvest finished cycles, commit."""
        self._unconsumed += self.consumer.poll(max_records=1000, timeout_s=poll_s)
        if self._assigned:
            self._take_over()  # if the bus fails here, the records wait for the next step
        records, self._unconsumed = self._unconsumed, []
        for record in records:
            self._consume(record)
        self._harvest()
        self._schedule_drift()
        self._dispatch()
        self._commit()
        self.health.tick()
        self.metrics.pending.set(len(self._pending))
        self.metrics.running.set(len(self._running))

    def _schedule_drift(self) -> None:
        """Every ``drift.interval_s``, a drift check of each mailbox this extractor owns (in
        the mailbox's next cycle, so it never races the mailbox's own sync)."""
        if self._drift is None or time.monotonic() < self._next_drift:
            return
        self._next_drift = time.monotonic() + self.settings.drift.interval_s
        for mailbox in sorted(self._owner):
            self._enqueue(Pending(SyncRequest(mailbox, drift=True), since=0.0))

    def _drift_counted(self, result: str, folders: int) -> None:
        self.metrics.drift_checks.labels(result).inc()
        self.metrics.drift_folders.inc(folders)

    # --- partitions handed over and taken away ---------------------------------------------------
    def assigned(self, partitions: Sequence[Partition]) -> None:
        """Called inside ``poll``: load these partitions' state right after it returns."""
        self._assigned += [p for topic, p in partitions if topic == self.topics[Topic.CHANGES]]

    def _take_over(self) -> None:
        partitions = sorted(set(self._assigned))
        owned = self.ownership.take_over(partitions)
        self._owner.update(owned)
        self._assigned = [p for p in self._assigned if p not in partitions]
        resuming = self.checkpoints.mailboxes_in_initial_sync() & set(owned)
        for mailbox in owned:  # synced until now (by whichever member): Live, unless resuming
            self.status.setdefault(mailbox, MailboxStatus("Pending" if mailbox in resuming
                                                          else "Live"))
        for mailbox in resuming:
            self._enqueue(Pending(SyncRequest(mailbox, full=True), since=0.0))

    def revoked(self, partitions: Sequence[Partition]) -> None:
        """Called inside ``poll`` (or ``close``) before the group hands these partitions on:
        settle their mailboxes' cycles, drop their waiting events, commit what is settled."""
        lost = {p for topic, p in partitions if topic == self.topics[Topic.CHANGES]}
        self._assigned = [p for p in self._assigned if p not in lost]
        self._unconsumed = [r for r in self._unconsumed if r.partition not in lost]
        mailboxes = {m for m, p in self._owner.items() if p in lost}
        self._abandoned |= mailboxes & set(self._running)
        for mailbox in sorted(mailboxes & set(self._running)):
            future, pending = self._running.pop(mailbox)
            error = future.exception()  # waits: the abandoned cycle stops at its next call
            if error is None:
                self._succeeded(mailbox, pending, future.result())
            elif not isinstance(error, CycleAbandonedError):
                log.warning("sync cycle failed while its mailbox moved", mailbox=mailbox,
                            error=str(error))
        self._abandoned -= mailboxes
        for mailbox in mailboxes:
            self._pending.pop(mailbox, None)
            self._owner.pop(mailbox, None)
            self.status.pop(mailbox, None)
            self._syncs.pop(mailbox, None)
        try:
            self._commit()
        except BusError as exc:  # the group already moved on: those records come again
            log.warning("commit before the hand-over failed", reason=str(exc))
        self._ledger.forget(self.topics[Topic.CHANGES], lost)
        self.ownership.let_go(mailboxes)
        log.info("partitions handed over", partitions=sorted(lost), mailboxes=len(mailboxes))

    def _consume(self, record: Record) -> None:
        self._ledger.add(record)
        try:
            event = self.codec.decode(record.value, expected="ChangeEvent").datum
        except CodecError as exc:
            self._dead_letter([record], "CodecError", str(exc), attempts=1)
            self._ledger.settle([record])
            return
        self.metrics.events.labels(event["event_type"]).inc()
        pending = Pending(request_for(event), since=time.monotonic(), records=[record],
                          event_time=event.get("event_time"))
        self._owner[pending.request.mailbox] = record.partition
        self._enqueue(pending)

    def _enqueue(self, pending: Pending) -> None:
        mailbox = pending.request.mailbox
        if mailbox in self._pending:
            self._pending[mailbox].absorb(pending)
        else:
            self._pending[mailbox] = pending
        self.status.setdefault(mailbox, MailboxStatus())

    def _dispatch(self) -> None:
        now = time.monotonic()
        for mailbox, pending in list(self._pending.items()):
            if len(self._running) >= self.settings.parallel_mailboxes:
                return
            due = now >= max(pending.since + self.settings.coalesce_s, pending.not_before)
            if mailbox in self._running or not due:
                continue
            del self._pending[mailbox]
            future = self._pool.submit(self._sync(mailbox).run, pending.request)
            self._running[mailbox] = (future, pending)
            self._started[mailbox] = now

    def _sync(self, mailbox: str) -> MailboxSync:
        if mailbox not in self._syncs:
            reader: Reader
            if isinstance(self.connection, GraphClient):
                reader = GraphReader(self.connection, mailbox,
                                     page_size=self.settings.graph_page_size,
                                     batch=self.settings.graph_batch)
            else:
                reader = MailboxReader(self.connection, mailbox, self.settings.get_item_batch)
            reader = Abandonable(reader, self._abandoned)
            publisher = StatePublisher(self.producer, self.codec, self.store, self.topics,
                                       self.api)
            sync = MailboxSync(reader, self.store, self.checkpoints, publisher,
                               self.settings.filters)
            sync.on_progress = self._progress
            sync.drift = self._drift
            self._syncs[mailbox] = sync
        return self._syncs[mailbox]

    def _progress(self, mailbox: str, percent: float) -> None:
        # Called from a worker thread after every initial-sync page; reported at most once a
        # second per mailbox, so a 100,000-message sync does not flood the status topic.
        status = self.status.setdefault(mailbox, MailboxStatus())
        now = time.monotonic()
        if status.state == "InitialSync" and now - status.reported_at < 1.0 and percent < 100:
            return
        status.state, status.percent, status.reported_at = "InitialSync", percent, now
        self._publish_status(mailbox, status)

    def _harvest(self) -> None:
        for mailbox, (future, pending) in list(self._running.items()):
            if not future.done():
                continue
            del self._running[mailbox]
            started = self._started.pop(mailbox, None)
            if started is not None:
                self.metrics.cycle_seconds.observe(time.monotonic() - started)
            error = future.exception()
            if error is None:
                self._succeeded(mailbox, pending, future.result())
            elif not self._closing:
                self._failed(mailbox, pending, error)
            # else: cut short by the stop; its records stay unsettled, so uncommitted

    def _succeeded(self, mailbox: str, pending: Pending, result: SyncResult) -> None:
        self._ledger.settle(pending.records)
        self.metrics.cycles.labels("ok").inc()
        self.metrics.states.labels("message").inc(result.messages)
        self.metrics.states.labels("folder").inc(result.folders)
        self.metrics.pages.inc(result.pages)
        self.metrics.resyncs.inc(result.rescanned)
        status = self.status.setdefault(mailbox, MailboxStatus())
        changed = bool(result.messages or result.folders or result.pages)
        # A cycle that found nothing new (a Graph folder-tree poll every minute, a hint about a
        # change already replicated) is no news: the status record, and so the admin page's
        # "last change replicated", moves only when something was replicated or the state
        # itself changes.
        news = changed or status.state != "Live" or status.last_error is not None
        status.state, status.last_error, status.percent = "Live", None, None
        if changed:
            status.last_change = now_utc()
        if pending.event_time is not None:
            status.lag_ms = int((now_utc() - pending.event_time).total_seconds() * 1000)
        self.health.reached()
        if news:
            self._publish_status(mailbox, status)

    def _failed(self, mailbox: str, pending: Pending, error: BaseException) -> None:
        pending.attempts += 1
        pending.last_error = str(error)
        self.metrics.cycles.labels("failed").inc()
        self.health.failed(error)
        status = self.status.setdefault(mailbox, MailboxStatus())
        status.last_error = str(error)
        throttled = isinstance(error, EwsThrottledError | GraphThrottledError)
        status.state = "Throttled" if throttled else "Failing"
        retriable = getattr(error, "retriable", False)
        refused = isinstance(error, GraphAccessDeniedError)  # an admin must act: no retry helps
        # The traceback of a failure nobody classified is what its bug report needs.
        log.warning("sync cycle failed", mailbox=mailbox, attempt=pending.attempts,
                    error=str(error), retriable=retriable,
                    exc_info=None if retriable or refused else error)
        if not isinstance(error, MfrError) or refused or \
                pending.attempts >= self.settings.attempts:
            self._dead_letter(pending.records, type(error).__name__, str(error), pending.attempts)
            self._ledger.settle(pending.records)
            status.state = "Failing"
        else:
            pause = self.settings.retry_after_s * 2 ** (pending.attempts - 1)
            pending.not_before = time.monotonic() + pause
            self._enqueue(pending)
        self._publish_status(mailbox, status)

    def _commit(self) -> None:
        ready = self._ledger.committable()
        if ready:
            self.consumer.commit(ready)

    # --- records we write ----------------------------------------------------------------------
    def _dead_letter(self, records: list[Record], kind: str, reason: str, attempts: int) -> None:
        for record in records:
            datum = dead_letter(record, kind, reason, attempts)
            self.producer.produce(self.topics[Topic.DEAD_LETTERS], record.key or "",
                                   self.codec.encode("DeadLetter", datum))
            self.metrics.dead_letters.labels(kind).inc()
        self.producer.flush()

    def _publish_status(self, mailbox: str, status: MailboxStatus) -> None:
        datum = status.datum(mailbox, *self.store.counts(mailbox))
        try:
            self.producer.produce(self.topics[Topic.STATUS], status_key(mailbox, "Extractor"),
                                  self.codec.encode("MailboxStatus", datum))
            self.producer.flush()
        except BusError as exc:  # advisory: the mailbox's next status replaces it
            log.warning("status not published", mailbox=mailbox, reason=str(exc))
