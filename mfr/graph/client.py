"""Blocking Graph calls for one application, shared by threads: a token on every request, one
throttling budget per mailbox, retries of what can pass, errors translated at this boundary.

Outlook throttles per application and mailbox (concepts/throttling-limits.md): 4 concurrent
requests and 10,000 per 10 minutes. The ``Throttle`` keeps each mailbox within the concurrency,
and a 429's Retry-After pauses every request of that mailbox, not only the one that got it, as
Microsoft asks ("Graph continues to log resource usage while a client is being throttled").
Links Graph hands back (``@odata.nextLink``, ``@odata.deltaLink``) are followed only on Graph's
own host: the bearer token must never travel anywhere else.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from mfr.graph.errors import (
    GraphError,
    GraphRequestRejectedError,
    GraphThrottledError,
    GraphUnavailableError,
    translate_response,
    translate_transport,
)
from mfr.graph.settings import GraphSettings
from mfr.graph.tokens import TokenSource
from mfr.retry import RetryPolicy
from mfr.throttle import Throttle

DEFAULT_RETRY_AFTER_S = 30.0  # a 429 without Retry-After


class GraphClient:
    """Graph requests on behalf of one application; safe to share between threads."""

    def __init__(
        self,
        settings: GraphSettings,
        *,
        tokens: TokenSource | None = None,
        throttle: Throttle | None = None,
        policy: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.base_url = str(settings.graph_url).rstrip("/")
        self._host = urlsplit(self.base_url).netloc.lower()
        self.tokens = tokens or TokenSource(settings)
        self.stopping = threading.Event()  # set by ``stop``: pauses end, calls fail from then on
        # A 429's Retry-After can be long: a stopping service must not sit it out.
        self.throttle = throttle or Throttle(settings.max_concurrent_per_mailbox,
                                             sleep=self.pause)
        self.policy = policy or RetryPolicy()
        self._http = httpx.Client(
            timeout=settings.request_timeout_s,
            verify=ssl.create_default_context(cafile=settings.ca_file)
            if settings.ca_file
            else True,
            transport=transport,
            follow_redirects=False,
        )

    def stop(self) -> None:
        """End every retry pause and back-off wait at once (the service is stopping)."""
        self.stopping.set()

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` before trying again, unless the service stops first."""
        if self.stopping.wait(seconds):
            raise GraphUnavailableError("stopped while waiting to try again")

    def close(self) -> None:
        """Close the connection pool, and the token source's connection to the authority."""
        self._http.close()
        self.tokens.close()

    def url(self, path_or_link: str) -> str:
        """An absolute URL on Graph's host: a path below the version root, or a link Graph gave."""
        if path_or_link.startswith(("https://", "http://")):
            if urlsplit(path_or_link).netloc.lower() != self._host:
                raise GraphRequestRejectedError(
                    f"refusing to follow a link off Graph's host: {urlsplit(path_or_link).netloc}"
                )
            return path_or_link
        return f"{self.base_url}/{path_or_link.lstrip('/')}"

    def call(
        self,
        method: str,
        path_or_link: str,
        *,
        mailbox: str,
        doing: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request within ``mailbox``'s budget, retrying what can pass; the answer
        (2xx) or the ``GraphError`` of the last attempt."""
        url = self.url(path_or_link)
        budget = mailbox.lower()
        jitter = wait_random_exponential(
            multiplier=self.policy.first_wait_s, max=self.policy.max_wait_s
        )

        def wait(state: RetryCallState) -> float:
            error = state.outcome.exception() if state.outcome else None
            if isinstance(error, GraphThrottledError):
                self.throttle.back_off(budget, error.retry_after_s or DEFAULT_RETRY_AFTER_S)
                return 0.0  # the throttle holds every request of the mailbox until then
            return float(jitter(state))

        def attempt() -> httpx.Response:
            with self.throttle.request(budget):
                token = self.tokens.token()
                try:
                    response = self._http.request(
                        method,
                        url,
                        params=params,
                        json=json,
                        headers={**(headers or {}), "Authorization": f"Bearer {token}"},
                    )
                except httpx.HTTPError as exc:
                    raise translate_transport(exc, doing) from exc
            if response.status_code >= 300:
                raise translate_response(response, doing)
            return response

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, GraphError) and e.retriable),
            wait=wait,
            stop=stop_after_attempt(self.policy.attempts)
            | stop_after_delay(self.policy.give_up_after_s),
            sleep=self.pause,
            reraise=True,
        )
        return retrying(attempt)

    def get_json(
        self,
        path_or_link: str,
        *,
        mailbox: str,
        doing: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """GET a JSON object."""
        response = self.call(
            "GET", path_or_link, mailbox=mailbox, doing=doing, params=params, headers=headers
        )
        try:
            body = response.json()
        except ValueError as exc:
            raise GraphRequestRejectedError(f"{doing}: the answer is not JSON") from exc
        if not isinstance(body, dict):
            raise GraphRequestRejectedError(f"{doing}: the answer is not a JSON object")
        return body

    def pages(
        self,
        path_or_link: str,
        *,
        mailbox: str,
        doing: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every page of a collection, following ``@odata.nextLink`` (the last page may carry an
        ``@odata.deltaLink``); query options go only with the first request, as links carry them."""
        page = self.get_json(
            path_or_link, mailbox=mailbox, doing=doing, params=params, headers=headers
        )
        while True:
            yield page
            link = page.get("@odata.nextLink")
            if not isinstance(link, str):
                return
            page = self.get_json(link, mailbox=mailbox, doing=doing, headers=headers)
