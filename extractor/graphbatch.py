"""Many GETs of one mailbox at once: messages by immutable id, folders by id or well-known name.

JSON batching (json-batching.md) puts up to 20 requests in one POST to ``$batch``; Outlook runs up
to 4 of them at a time (throttling-limits.md, "Outlook service limits for JSON batching") and
judges each against the throttling limits on its own. So a batch saves round trips, not quota:
each inner request still counts, and a throttled one comes back as its own 429 with a
Retry-After among its headers while the batch itself answers 200 (throttling.md: "Batch
requests... individual requests... can be throttled"). Those, and inner 5xx, are sent again in
the next batch once the mailbox's back-off has elapsed; the back-off is the client's
per-mailbox throttle, so it also holds every other request of the mailbox. A 404 answers "not
there" (None); any other failure is translated and raised as a plain request's would be.

Without batching (``ExtractorSection.graph_batch = false``) the same reads go one by one through
``GraphClient.get_json``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from mfr.graph import GraphClient
from mfr.graph.client import DEFAULT_RETRY_AFTER_S
from mfr.graph.errors import (
    GraphError,
    GraphNotFoundError,
    GraphThrottledError,
    translate_response,
)

MAX_BATCH = 20  # json-batching.md: "currently limited to 20 individual requests"


def relative_url(path: str, params: Mapping[str, str] | None = None) -> str:
    """A request URL relative to the version root, its query percent-encoded."""
    query = urlencode(dict(params or {}), quote_via=quote, safe="$,'()")
    return f"{path}?{query}" if query else path


class GraphGets:
    """GETs of one mailbox, batched or one by one; ``get`` returns each body or None (404)."""

    def __init__(
        self, client: GraphClient, mailbox: str, headers: Mapping[str, str], *, batch: bool
    ) -> None:
        self._client = client
        self._mailbox = mailbox
        self._headers = dict(headers)
        self._batch = batch
        self.round_trips = 0  # HTTP requests sent, for measuring what batching saves

    def get(self, urls: Mapping[str, str], doing: str) -> dict[str, dict[str, Any] | None]:
        """Each relative URL's JSON body, by the caller's key; None for what is not there."""
        if not self._batch or len(urls) == 1:
            return {key: self._one(url, doing) for key, url in urls.items()}
        found: dict[str, dict[str, Any] | None] = {}
        keys = list(urls)
        for start in range(0, len(keys), MAX_BATCH):
            chunk = {k: urls[k] for k in keys[start : start + MAX_BATCH]}
            found.update(self._batched(chunk, doing))
        return found

    def _one(self, url: str, doing: str) -> dict[str, Any] | None:
        self.round_trips += 1
        try:
            return self._client.get_json(
                url, mailbox=self._mailbox, doing=doing, headers=self._headers
            )
        except GraphNotFoundError:
            return None

    def _batched(self, urls: Mapping[str, str], doing: str) -> dict[str, dict[str, Any] | None]:
        found: dict[str, dict[str, Any] | None] = {}
        pending = dict(urls)
        policy = self._client.policy
        for attempt in range(1, policy.attempts + 1):
            ids = {str(n): key for n, key in enumerate(pending)}
            body = {
                "requests": [
                    {"id": n, "method": "GET", "url": pending[key], "headers": self._headers}
                    for n, key in ids.items()
                ]
            }
            self.round_trips += 1
            answer = self._client.call(
                "POST", "$batch", mailbox=self._mailbox, doing=f"{doing} ($batch)", json=body
            ).json()
            retry: dict[str, str] = {}
            last_error: GraphError | None = None
            for response in answer.get("responses") or ():
                key = ids.get(str(response.get("id")))
                if key is None:
                    continue
                status = int(response.get("status") or 0)
                if 200 <= status < 300:
                    found[key] = response.get("body") or {}
                    continue
                error = translate_response(_as_http(response), doing)
                if isinstance(error, GraphNotFoundError):
                    found[key] = None
                elif error.retriable:
                    retry[key], last_error = pending[key], error
                    if isinstance(error, GraphThrottledError):
                        self._client.throttle.back_off(
                            self._mailbox.lower(), error.retry_after_s or DEFAULT_RETRY_AFTER_S
                        )
                else:
                    raise error
            missing = [k for k in pending if k not in found and k not in retry]
            retry.update({k: pending[k] for k in missing})  # an answer left out: ask again
            if not retry:
                return found
            if attempt == policy.attempts:
                raise last_error or GraphError(f"{doing}: $batch left requests unanswered")
            if not isinstance(last_error, GraphThrottledError):
                self._client.pause(
                    min(policy.max_wait_s, policy.first_wait_s * 2 ** (attempt - 1)))
            pending = retry
        return found


def _as_http(response: dict[str, Any]) -> httpx.Response:
    """An inner batch response as an HTTP answer, so errors translate as for any request."""
    headers = {str(k): str(v) for k, v in (response.get("headers") or {}).items()}
    return httpx.Response(
        int(response.get("status") or 500), headers=headers, json=response.get("body")
    )


def user_path(mailbox: str) -> str:
    """The path of a mailbox below the version root."""
    return f"users/{quote(mailbox, safe='@')}"
