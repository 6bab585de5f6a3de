"""Graph failures, translated from HTTP answers and httpx at the boundary, classified retriable or
fatal as ``mfr.ews.errors`` does for EWS.

``translate_response`` and ``translate_transport`` are the only places that read Graph's error
JSON or httpx's exceptions; everything above them handles these classes. The classification
follows Microsoft's pages (``../shared/reference/graph/``): concepts/errors.md for codes,
concepts/throttling.md for 429 and Retry-After, concepts/delta-query-overview.md for the 410 and
``syncStateNotFound``/``resyncRequired`` answers that mean "sync this again from scratch".
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from mfr.errors import MfrError
from mfr.reach import network_cause


class GraphError(MfrError):
    """A Graph request failed; ``status`` is the HTTP status (0: no answer), ``code`` Graph's."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GraphThrottledError(GraphError):
    """429 (or 503 with Retry-After): wait ``retry_after_s`` before any request of that mailbox."""

    retriable = True

    def __init__(
        self, message: str, *, status: int, code: str, retry_after_s: float | None
    ) -> None:
        super().__init__(message, status=status, code=code)
        self.retry_after_s = retry_after_s


class GraphUnavailableError(GraphError):
    """The service or the network failed in a way that usually passes."""

    retriable = True


class GraphAccessDeniedError(GraphError):
    """401/403, or the token endpoint refused us: an admin must act; retrying cannot help."""


class GraphNotFoundError(GraphError):
    """The user, folder or message does not exist (any more)."""


class GraphSyncResetError(GraphError):
    """The delta token is expired or invalid: sync that folder again from scratch."""


class GraphRequestRejectedError(GraphError):
    """Graph refused the request itself (400, 405...): a bug or an unsupported case."""


_RESET_CODES = frozenset({"syncstatenotfound", "resyncrequired", "syncstateinvalid"})


def _error_body(response: httpx.Response) -> tuple[str, str]:
    try:
        body: Any = json.loads(response.content)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            return str(error.get("code") or ""), str(error.get("message") or "")
    except (ValueError, RecursionError):
        pass
    return "", response.reason_phrase


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds, when the answer gives it as a number."""
    raw = response.headers.get("retry-after", "").strip()
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


def translate_response(response: httpx.Response, doing: str) -> GraphError:
    """The ``GraphError`` for a failed answer to ``doing`` ("messages delta of Inbox for ...")."""
    status = response.status_code
    code, text = _error_body(response)
    message = f"{doing}: HTTP {status} {code or response.reason_phrase}: {text}"[:2000]
    if status == 429 or (status == 503 and retry_after(response) is not None):
        return GraphThrottledError(
            message, status=status, code=code, retry_after_s=retry_after(response)
        )
    if status == 410 or code.lower() in _RESET_CODES:
        return GraphSyncResetError(message, status=status, code=code)
    if status in (401, 403):
        return GraphAccessDeniedError(message, status=status, code=code)
    if status == 404:
        return GraphNotFoundError(message, status=status, code=code)
    if status >= 500 or status == 408:
        return GraphUnavailableError(message, status=status, code=code)
    return GraphRequestRejectedError(message, status=status, code=code)


def translate_transport(exc: httpx.HTTPError, doing: str) -> GraphError:
    """The ``GraphError`` for a request that got no answer (connection, timeout, TLS), its
    cause in one line (DNS, connection, TLS) with ``code`` saying which."""
    cause = network_cause(exc)
    if cause is not None:
        return GraphUnavailableError(f"{doing}: {cause[1]}"[:2000], code=cause[0])
    return GraphUnavailableError(f"{doing}: {type(exc).__name__}: {exc}"[:2000])
