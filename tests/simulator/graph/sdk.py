"""Microsoft's own Graph client, unmodified, pointed at the simulator (issue 11's test client).

``GraphServiceClient`` over a ``GraphRequestAdapter`` whose base URL is the simulator's version
root. The adapter is handed our own ``httpx.AsyncClient`` so every JSON body goes through the CSDL
check; handing a client in skips the SDK's default middleware (graph_request_adapter.py only
builds it when no client is given), so we load it ourselves with the same factory and the same
options the SDK uses: redirect, retry (429/503/504, honouring ``Retry-After``, three retries),
parameter-name decoding, URL replacement (``/users/me-token-to-replace`` → ``/me``), user agent,
header and body inspection, and Graph's telemetry header.

Tokens come from the simulator's authority the way an app-only client gets them
(auth-v2-service.md, client credentials): msal against a TLS simulator (msal accepts only an
https authority), else a plain client-credentials POST to ``/{tenant}/oauth2/v2.0/token``
(``signed_tokens`` skips HTTP, for the benchmark). Kiota's bearer provider asks a token provider
per request; ours caches the token until five minutes before it expires and gives none to hosts
outside ``allowed_hosts``, as Azure's provider does.

The SDK's RetryHandler (kiota_http retry_handler.py) retries 429, 503 and 504 up to three times,
waiting what ``Retry-After`` says when it is above zero (uncapped) and otherwise an exponential
back-off plus a 3 s base delay; it gives up when the wait would be 180 s or more. Every retry
carries a ``Retry-Attempt`` header. It is kept as it is.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import msal
import requests
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as sdk_options
from msgraph.graph_service_client import GraphServiceClient
from msgraph_core import GraphClientFactory

from simulator import Simulator
from tests.simulator.graph.csdl import check_body

SCOPE = "https://graph.microsoft.com/.default"
# (access token, seconds it lives)
TokenFetch = Callable[[], tuple[str, float]]


class SimulatorTokens(AccessTokenProvider):
    """Kiota's access-token provider: tokens from ``fetch``, cached until near expiry."""

    def __init__(self, fetch: TokenFetch, allowed_hosts: list[str] | None = None) -> None:
        self.fetch = fetch
        self.validator = AllowedHostsValidator(allowed_hosts or ["127.0.0.1", "localhost"])
        self.fetched = 0
        self._token = ""
        self._expires = 0.0

    async def get_authorization_token(
        self, uri: str, additional_authentication_context: dict[str, Any] | None = None
    ) -> str:
        """The bearer token for a request to ``uri`` ("" for a host not allowed)."""
        if not self.validator.is_url_host_valid(uri):
            return ""
        if time.monotonic() > self._expires - 300:
            token, lifetime = await asyncio.to_thread(self.fetch)
            self._token, self._expires = token, time.monotonic() + lifetime
            self.fetched += 1
        return self._token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        """The hosts tokens are given to."""
        return self.validator

    def forget(self) -> None:
        """Drop the cached token (the next request fetches a new one)."""
        self._expires = 0.0


def signed_tokens(sim: Simulator, client_id: str | None = None) -> TokenFetch:
    """Tokens the simulator's authority signs directly (no HTTP)."""
    app = client_id or sim.settings.graph.client_id

    def fetch() -> tuple[str, float]:
        return sim.graph.auth.issue_token(app), float(sim.settings.graph.token_lifetime_s)

    return fetch


def token_url(sim: Simulator, base: str | None = None) -> str:
    """The tenant's token endpoint (``/{tenant}/oauth2/v2.0/token``)."""
    return f"{base or sim.url}/{sim.settings.graph.tenant_id}/oauth2/v2.0/token"


def posted_tokens(url: str, client_id: str, secret: str, verify: bool | str = True) -> TokenFetch:
    """Tokens from a plain client-credentials POST (auth-v2-service.md)."""

    def fetch() -> tuple[str, float]:
        form = {
            "client_id": client_id,
            "client_secret": secret,
            "scope": SCOPE,
            "grant_type": "client_credentials",
        }
        answer = httpx.post(url, data=form, verify=verify, timeout=30)
        answer.raise_for_status()
        body = answer.json()
        return str(body["access_token"]), float(body["expires_in"])

    return fetch


def msal_tokens(authority: str, client_id: str, secret: str, ca_file: str | Path) -> TokenFetch:
    """Tokens through msal's ConfidentialClientApplication against the simulator's authority.
    ``instance_discovery=False``: msal would otherwise ask login.microsoftonline.com whether the
    host is Microsoft's; the Session ignores ``REQUESTS_CA_BUNDLE``, which would override a
    ``verify=`` given to msal (test_msal.py shows both)."""
    session = requests.Session()
    session.verify = str(ca_file)
    session.trust_env = False
    app = msal.ConfidentialClientApplication(
        client_id,
        client_credential=secret,
        authority=authority,
        http_client=session,
        instance_discovery=False,
    )

    def fetch() -> tuple[str, float]:
        result = app.acquire_token_for_client(scopes=[SCOPE])
        # No idle keep-alive connection left behind to hold up the simulator's shutdown.
        session.close()
        if "access_token" not in result:
            raise RuntimeError(f"msal got no token: {result}")
        return str(result["access_token"]), float(result["expires_in"])

    return fetch


def default_tokens(sim: Simulator) -> TokenFetch:
    """The most faithful token source the simulator offers: msal over HTTPS, else a plain
    client-credentials POST (see the module docstring)."""
    graph = sim.settings.graph
    secret = graph.client_secret.get_secret_value()
    if sim.ca_file is not None:
        authority = f"{sim.authority_url}/{graph.tenant_id}"
        return msal_tokens(authority, graph.client_id, secret, sim.ca_file)
    return posted_tokens(token_url(sim), graph.client_id, secret)


async def check_json(response: httpx.Response) -> None:
    """An async httpx response hook: every JSON body goes through the CSDL check."""
    if "json" in response.headers.get("content-type", ""):
        await response.aread()
        check_body(response.json())


@asynccontextmanager
async def graph_client(
    base_url: str,
    tokens: AccessTokenProvider,
    *,
    check: bool = True,
    timeout: float = 30,
    ca_file: str | Path | None = None,
) -> AsyncIterator[GraphServiceClient]:
    """A GraphServiceClient on ``base_url`` with the SDK's default middleware; JSON bodies are
    CSDL-checked unless ``check`` is False (the benchmark); ``ca_file`` is the CA to trust for a
    TLS simulator."""
    hooks: dict[str, list[Any]] = {"response": [check_json]} if check else {}
    verify = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    # Our own transport, closed by us: msgraph_core's AsyncGraphTransport wraps the client's
    # transport without passing aclose() on, so closing the client would leave its connections
    # open (and a server shutting down would wait for them).
    transport = httpx.AsyncHTTPTransport(verify=verify)
    http = httpx.AsyncClient(event_hooks=hooks, timeout=timeout, transport=transport)
    http = GraphClientFactory.create_with_default_middleware(client=http, options=sdk_options)
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(tokens), client=http)
    adapter.base_url = base_url
    try:
        yield GraphServiceClient(request_adapter=adapter)
    finally:
        await http.aclose()
        await transport.aclose()


@asynccontextmanager
async def simulator_client(
    sim: Simulator, tokens: AccessTokenProvider | None = None
) -> AsyncIterator[GraphServiceClient]:
    """A checked GraphServiceClient on the simulator's Graph face."""
    provider = tokens or SimulatorTokens(default_tokens(sim))
    async with graph_client(sim.graph_url, provider, ca_file=sim.ca_file) as client:
        yield client
