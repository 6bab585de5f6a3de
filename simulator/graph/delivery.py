"""Webhook delivery of Graph change and lifecycle notifications, and the validation handshake.

A background task on the server's loop runs a round every ``delivery_poll_s``: subscriptions turn
new mailbox events into notifications (``GraphSubscriptions.tick``), which wait in one queue per
(URL, kind); each queue sends its due notifications as one POST ``{"value": [...]}`` of at most
``max_notifications_per_post``, one POST in flight per queue so a queue's order holds.

The rules of change-notifications-delivery-webhooks.md, on the simulator clock where they speak
of time (tests advance it):

- An answer other than 2xx within ``ack_timeout_s`` (3 s, Graph's HTTP client timeout) fails. The
  notifications are retried after ``retry_initial_s``, the wait doubling each time, until the next
  attempt would fall later than ``retry_window_s`` (4 hours) after the first failure; then they are
  discarded and a ``missed`` lifecycle notification becomes due for their subscription.
- An answer slower than ``slow_threshold_s`` (2,900 ms; no answer at all is slower) is slow. Once
  an endpoint has taken ``slow_min_notifications`` (100) notifications, a slow share of 10 % flags
  it: new notifications wait ``slow_delay_s`` (10 minutes) and failed ones are retried after that
  long; at 15 % they are dropped (and ``missed`` becomes due). Counts are flushed every
  ``slow_window_s`` (10 minutes). The page counts "notifications", so a slow POST of five counts
  five slow ones. These rules apply to change notifications; lifecycle notifications (which
  announce losses) are always sent.
- Injected faults (``GraphFaults``) act on change notifications only: ``take_drop`` loses a POST
  for good, with a ``missed`` for its subscriptions when armed so (Graph noticed), or silently (a
  loss Graph itself does not notice, to test that clients do not
  rely on notifications), ``take_delay`` holds a POST back, ``take_reorder`` reverses the next N
  notifications (waiting up to ``REORDER_HOLD_S`` for N to be queued), ``slow_endpoint`` flags
  every endpoint.

Every attempt and its outcome is recorded in ``attempts`` (``records()`` for the control API).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import structlog

from simulator.graph.notifications import graph_time

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace

log = structlog.get_logger(__name__)

FLAG_SHARE = 0.10
DROP_SHARE = 0.15
REORDER_HOLD_S = 2.0  # real seconds a reorder fault waits for enough notifications
JSON = "application/json; charset=utf-8"
_Key = tuple[str, bool]  # (URL, lifecycle?)


@dataclass(slots=True, eq=False)
class Pending:
    """A notification waiting for delivery (compared by identity)."""

    body: dict[str, Any]
    subscription_id: str
    due: float  # simulator monotonic time
    attempts: int = 0
    first_failure: float | None = None
    held: bool = False  # already delayed once for a slow endpoint

    @property
    def event(self) -> str:
        """Its change type or lifecycle event."""
        return str(self.body.get("lifecycleEvent") or self.body.get("changeType"))


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery step, for tests. ``kind``: change, lifecycle or validation. ``outcome``:
    delivered, failed, discarded, dropped, delayed (for delivery) or validated, refused (for a
    handshake)."""

    at: float
    when: str
    url: str
    kind: str
    subscriptions: tuple[str, ...]
    events: tuple[str, ...]
    outcome: str
    detail: str
    status: int | None = None
    duration_s: float = 0.0


@dataclass(slots=True)
class _Endpoint:
    """Slow-answer counts of one notification URL since ``since``."""

    since: float
    total: int = 0
    slow: int = 0

    def share(self, minimum: int) -> float:
        return self.slow / self.total if self.total >= minimum else 0.0


@dataclass(slots=True)
class _Reorder:
    count: int = 0
    since: float = field(default_factory=time.monotonic)


class Delivery:
    """Posts notifications from a background task on the server's event loop."""

    def __init__(self, face: GraphFace) -> None:
        self.face = face
        self.settings = face.settings
        self.attempts: list[Attempt] = []
        self._queues: dict[_Key, list[Pending]] = {}
        self._endpoints: dict[str, _Endpoint] = {}
        self._inflight: set[_Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._reorder = _Reorder()
        self._client: httpx.AsyncClient | None = None

    # --- queueing (store lock held) -----------------------------------------------------------
    def enqueue(
        self, url: str, subscription_id: str, body: dict[str, Any], *, lifecycle: bool = False
    ) -> None:
        """Queue one notification for ``url``."""
        pending = Pending(body, subscription_id, self.face.clock.monotonic())
        self._queues.setdefault((url, lifecycle), []).append(pending)

    def records(self) -> list[dict[str, Any]]:
        """Every delivery attempt so far, as plain data."""
        return [asdict(a) for a in self.attempts]

    def _record(
        self,
        key: _Key,
        items: list[Pending],
        outcome: str,
        detail: str,
        status: int | None = None,
        duration_s: float = 0.0,
    ) -> None:
        self.attempts.append(
            Attempt(
                at=self.face.clock.monotonic(),
                when=graph_time(self.face.clock.now()),
                url=key[0],
                kind="lifecycle" if key[1] else "change",
                subscriptions=tuple(dict.fromkeys(p.subscription_id for p in items)),
                events=tuple(p.event for p in items),
                outcome=outcome,
                detail=detail,
                status=status,
                duration_s=round(duration_s, 4),
            )
        )

    def _bound(self) -> float:
        """The HTTP client's own timeout: above every call's own bound (validation or
        acknowledgement time, enforced with ``asyncio.wait_for``), so those decide."""
        return max(self.settings.validation_timeout_s, self.settings.ack_timeout_s) + 1.0

    # --- the validation handshake -------------------------------------------------------------
    async def handshake(self, url: str, token: str) -> str | None:
        """POST ``{url}?validationToken=...``; None when the answer is 200, text/plain and the
        token, in time; otherwise the reason, worded as Graph's 400 says it."""
        target = f"{url}{'&' if '?' in url else '?'}validationToken={quote(token, safe='')}"
        timeout = self.settings.validation_timeout_s
        started = time.monotonic()
        status = None
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        try:
            if self._client is not None:
                response = await asyncio.wait_for(
                    self._client.post(target, headers=headers), timeout
                )
            else:  # the delivery task is not running (a test calls the face directly)
                async with httpx.AsyncClient(trust_env=False, timeout=self._bound()) as client:
                    response = await asyncio.wait_for(client.post(target, headers=headers), timeout)
            status = response.status_code
            failure = _judge(response, token)
        except (TimeoutError, httpx.TimeoutException):
            failure = "Subscription validation request timed out."
        except httpx.HTTPError as exc:
            failure = f"Subscription validation request failed: {type(exc).__name__}."
        with self.face.store.lock:
            self.attempts.append(
                Attempt(
                    at=self.face.clock.monotonic(),
                    when=graph_time(self.face.clock.now()),
                    url=url,
                    kind="validation",
                    subscriptions=(),
                    events=(),
                    outcome="refused" if failure else "validated",
                    detail=failure or "token echoed",
                    status=status,
                    duration_s=round(time.monotonic() - started, 4),
                )
            )
        return failure

    # --- the loop -----------------------------------------------------------------------------
    async def run(self) -> None:
        """Deliver until cancelled."""
        async with httpx.AsyncClient(trust_env=False, timeout=self._bound()) as client:
            self._client = client
            try:
                while True:
                    await asyncio.sleep(self.settings.delivery_poll_s)
                    try:
                        self._round(client)
                    except Exception:
                        log.exception("Graph delivery round failed")
            finally:
                self._client = None
                for task in list(self._tasks):
                    task.cancel()

    def _round(self, client: httpx.AsyncClient) -> None:
        now = self.face.clock.monotonic()
        with self.face.store.lock:
            self.face.subscriptions.tick(now)
            batches = self._select(now)
        loop = asyncio.get_running_loop()
        for key, items, note in batches:
            self._inflight.add(key)
            task = loop.create_task(self._send(client, key, items, note))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _select(self, now: float) -> list[tuple[_Key, list[Pending], str]]:
        batches = []
        for key, queue in self._queues.items():
            if key in self._inflight or not queue:
                continue
            lifecycle = key[1]
            if not lifecycle:
                # A deleted, removed or expired subscription's notifications are not sent.
                queue[:] = [p for p in queue if self.face.subscriptions.exists(p.subscription_id)]
            due = [p for p in queue if p.due <= now]
            note = ""
            if due and not lifecycle:
                due = self._slow_rules(key, queue, due, now)
                due, note = self._faults(key, queue, due, now)
            if due:
                batches.append((key, due[: self.settings.max_notifications_per_post], note))
        return batches

    def _endpoint(self, url: str, now: float) -> _Endpoint:
        endpoint = self._endpoints.setdefault(url, _Endpoint(now))
        if now - endpoint.since >= self.settings.slow_window_s:
            endpoint.since, endpoint.total, endpoint.slow = now, 0, 0
        return endpoint

    def _throttled(self, url: str, now: float) -> bool:
        share = self._endpoint(url, now).share(self.settings.slow_min_notifications)
        return share >= FLAG_SHARE or self.face.faults.slow_endpoint

    def _slow_rules(
        self, key: _Key, queue: list[Pending], due: list[Pending], now: float
    ) -> list[Pending]:
        share = self._endpoint(key[0], now).share(self.settings.slow_min_notifications)
        if share >= DROP_SHARE:
            for pending in due:
                queue.remove(pending)
                self.face.subscriptions.mark_missed(pending.subscription_id)
            self._record(key, due, "dropped", f"slow endpoint ({share:.0%} slow answers)")
            return []
        if not self._throttled(key[0], now):
            return due
        fresh = [p for p in due if not p.held]
        for pending in fresh:
            pending.held = True
            pending.due = now + self.settings.slow_delay_s
        if fresh:
            self._record(key, fresh, "delayed", "slow endpoint (flagged)")
        return [p for p in due if not any(p is f for f in fresh)]

    def _faults(
        self, key: _Key, queue: list[Pending], due: list[Pending], now: float
    ) -> tuple[list[Pending], str]:
        faults = self.face.faults
        note = ""
        if not self._reorder.count:
            self._reorder = _Reorder(faults.take_reorder())
        if self._reorder.count and due:
            count = self._reorder.count
            if len(due) < count and time.monotonic() - self._reorder.since < REORDER_HOLD_S:
                return [], ""
            self._reorder = _Reorder()
            head = due[:count][::-1]
            due = head + due[count:]
            note = f" (fault: {len(head)} reordered)"
        if not due:
            return due, note
        batch = due[: self.settings.max_notifications_per_post]
        if faults.take_drop():
            for pending in batch:
                queue.remove(pending)
                if faults.drop_reports_missed:
                    self.face.subscriptions.mark_missed(pending.subscription_id)
            self._record(key, batch, "dropped", "fault: delivery lost")
            return [], ""
        delay = faults.take_delay()
        if delay:
            for pending in batch:
                pending.due = now + delay
            self._record(key, batch, "delayed", f"fault: held back {delay:g} s")
            return [], ""
        return due, note

    # --- posting ------------------------------------------------------------------------------
    async def _send(
        self, client: httpx.AsyncClient, key: _Key, items: list[Pending], note: str
    ) -> None:
        url = key[0]
        payload = json.dumps({"value": [p.body for p in items]}, separators=(",", ":")).encode()
        started = time.monotonic()
        status: int | None = None
        try:
            try:
                response = await asyncio.wait_for(
                    client.post(url, content=payload, headers={"Content-Type": JSON}),
                    self.settings.ack_timeout_s,
                )
                status = response.status_code
                detail = f"HTTP {status}"
            except (TimeoutError, httpx.TimeoutException):
                detail = "no answer within the acknowledgement time"
            except httpx.HTTPError as exc:
                detail = f"{type(exc).__name__}: {exc}"
            duration = time.monotonic() - started
            with self.face.store.lock:
                self._settle(key, items, status, detail + note, duration)
        finally:
            self._inflight.discard(key)

    def _settle(
        self, key: _Key, items: list[Pending], status: int | None, detail: str, duration: float
    ) -> None:
        now = self.face.clock.monotonic()
        url, lifecycle = key
        slow = duration > self.settings.slow_threshold_s
        if not lifecycle:
            endpoint = self._endpoint(url, now)
            endpoint.total += len(items)
            endpoint.slow += len(items) if slow else 0
        queue = self._queues.setdefault(key, [])
        if status is not None and 200 <= status < 300:
            _remove(queue, items)
            self._record(
                key, items, "delivered", detail + (" (slow)" if slow else ""), status, duration
            )
            return
        self._record(key, items, "failed", detail, status, duration)
        throttled = not lifecycle and self._throttled(url, now)
        discarded = []
        for pending in items:
            pending.attempts += 1
            first = pending.first_failure = pending.first_failure or now
            if throttled:
                wait = self.settings.slow_delay_s
            else:
                wait = self.settings.retry_initial_s * 2 ** (pending.attempts - 1)
            if now + wait > first + self.settings.retry_window_s:
                discarded.append(pending)
            else:
                pending.due = now + wait
        if discarded:
            _remove(queue, discarded)
            self._record(key, discarded, "discarded", "no 2xx within the retry window")
            if not lifecycle:
                for pending in discarded:
                    self.face.subscriptions.mark_missed(pending.subscription_id)


def _remove(queue: list[Pending], items: list[Pending]) -> None:
    gone = {id(p) for p in items}
    queue[:] = [p for p in queue if id(p) not in gone]


def _judge(response: httpx.Response, token: str) -> str | None:
    """Why a validation answer fails, or None when it passes."""
    if response.status_code != 200:
        return (
            "Subscription validation request failed. Notification endpoint must respond with "
            f"200 OK to validation request (it answered {response.status_code})."
        )
    if not response.headers.get("content-type", "").lower().startswith("text/plain"):
        return "Subscription validation request failed. The response must be text/plain."
    if response.text != token:
        return (
            "Subscription validation request failed. Response must exactly match "
            "validationToken query parameter."
        )
    return None
