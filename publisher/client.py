"""The archive's ingest API as the publisher calls it: httpx, with tenacity retrying everything
that may pass later (connection failures, timeouts, 5xx, 429, 401/403) for as long as it takes,
exponential back-off with full jitter, never sooner than the archive's ``Retry-After``."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_random_exponential

from mfr.tls import client_context
from publisher.errors import ArchiveUnavailableError, BatchRefusedError, StoppedError
from publisher.settings import PublisherSettings

INGEST_PATH = "/api/ingest/v1/batches"
log = structlog.get_logger("publisher.client")


@dataclass(frozen=True)
class Accepted:
    """The archive applied the batch (or already held it)."""

    applied: int
    stale: int


@dataclass(frozen=True)
class Rejected:
    """Nothing was written: these records (by index in the batch) can never be accepted."""

    reasons: dict[int, str]


class ArchiveClient:
    """Submits batches, retrying until the archive answers for good or ``stop`` is set."""

    def __init__(
        self,
        settings: PublisherSettings,
        stop: threading.Event,
        on_retry: Callable[[ArchiveUnavailableError], None] = lambda _: None,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        """``verify``: how to check the archive's certificate; default: ``settings.ca_file``,
        else the system's CAs."""
        token = settings.ingest_token.get_secret_value() if settings.ingest_token else ""
        self._http = httpx.Client(
            base_url=settings.archive_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=settings.request_timeout_s,
            transport=transport,
            verify=verify or client_context(settings.ca_file),
        )
        self._settings = settings
        self._stop = stop
        self.on_retry = on_retry  # told before each back-off (the publisher pauses)
        self._backoff = wait_random_exponential(
            multiplier=settings.retry_initial_s, max=settings.retry_max_s
        )

    def submit(self, records: list[dict[str, Any]]) -> Accepted | Rejected:
        """Send ``records`` as one batch; returns once the archive answered for good."""
        retrying = Retrying(
            retry=retry_if_exception_type(ArchiveUnavailableError),
            wait=self._wait,
            stop=lambda _: self._stop.is_set(),
            sleep=self._sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        try:
            result: Accepted | Rejected = retrying(self._submit_once, records)
        except ArchiveUnavailableError as exc:
            # Only a stop ends the retries; one set while an attempt was failing ends them with
            # that attempt's error, which says less than why they ended.
            raise StoppedError("stopping; the batch stays uncommitted") from exc
        return result

    def unavailable(self) -> str | None:
        """None when the archive says it is ready; else why not, in one line. One quick
        request, no retries: for readiness while there is nothing to submit."""
        try:
            reply = self._http.get("/readyz", timeout=min(5.0, self._settings.request_timeout_s))
        except httpx.TransportError as exc:
            return _unreachable(exc)
        if reply.status_code != 200:
            return f"archive not ready: HTTP {reply.status_code}"
        return None

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def _submit_once(self, records: list[dict[str, Any]]) -> Accepted | Rejected:
        if self._stop.is_set():
            raise StoppedError("stopping; the batch stays uncommitted")
        try:
            reply = self._http.post(INGEST_PATH, json={"records": records})
        except httpx.TransportError as exc:
            raise ArchiveUnavailableError(_unreachable(exc)) from exc
        if reply.status_code == 200:
            body = reply.json()
            return Accepted(applied=body["applied"], stale=body["stale"])
        if reply.status_code == 422 and isinstance(_json(reply).get("rejected"), list):
            return Rejected({r["index"]: r["reason"] for r in _json(reply)["rejected"]})
        if reply.status_code in (400, 413, 422):
            raise BatchRefusedError(reply.status_code, str(_json(reply).get("detail", "")))
        raise ArchiveUnavailableError(
            f"archive answered HTTP {reply.status_code}: {_json(reply).get('detail', '')!s}",
            _retry_after(reply),
        )

    def _wait(self, state: RetryCallState) -> float:
        backoff = float(self._backoff(state))
        failure = state.outcome.exception() if state.outcome else None
        after = failure.retry_after_s if isinstance(failure, ArchiveUnavailableError) else None
        return max(backoff, after or 0.0)

    def _sleep(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise StoppedError("stopping; the batch stays uncommitted")

    def _before_sleep(self, state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, ArchiveUnavailableError):
            self.on_retry(failure)
            log.warning(
                "archive did not take the batch; retrying",
                reason=str(failure),
                attempt=state.attempt_number,
                wait_s=round(state.upcoming_sleep, 2),
            )


def _unreachable(exc: httpx.TransportError) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        # Says which setting fixes it; the archive is up, a retry only helps once trust is fixed.
        reason = text.rpartition("certificate verify failed:")[2].split("(_ssl")[0].strip(" )")
        return (f"archive unreachable: its certificate is not trusted ({reason or text}); "
                "set publisher.ca_file to the CA that signed it")
    return f"archive unreachable: {type(exc).__name__}"


def _json(reply: httpx.Response) -> dict[str, Any]:
    try:
        body = reply.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _retry_after(reply: httpx.Response) -> float | None:
    if reply.status_code not in (429, 503):
        return None
    value = reply.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP-date: the exponential back-off applies
