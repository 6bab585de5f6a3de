"""App-only access tokens for Graph, from the identity platform through msal.

msal caches a token and asks for a new one only when the cached one is close to expiry, so
``token()`` is cheap to call before every request. A refusal (unknown app, bad secret, revoked
certificate, no consent) is a ``GraphAccessDeniedError`` carrying the identity platform's AADSTS
text: an admin must act, and retrying will not help. msal talks to the authority with
``requests``, a blocking call: callers run it off the event loop, as they run every Graph call.
"""

from __future__ import annotations

import threading
import urllib.request
from pathlib import Path
from typing import Any

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from mfr.graph.errors import GraphAccessDeniedError, GraphUnavailableError
from mfr.graph.settings import GraphSettings

SCOPES = ["https://graph.microsoft.com/.default"]


def _certificate_credential(path: str) -> dict[str, str]:
    """msal's certificate credential from one PEM holding the certificate and its key."""
    pem = Path(path).read_text(encoding="ascii")
    certificate = x509.load_pem_x509_certificate(pem.encode())
    return {
        "private_key": pem,
        "thumbprint": certificate.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - x5t is SHA-1
        "public_certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
    }


def _session(settings: GraphSettings) -> requests.Session:
    """The HTTP session msal talks to the authority with. A configured CA must win: requests lets
    REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's ``verify`` while it trusts the
    environment, so with a CA of our own the environment is not trusted, and only its proxies are
    carried over by hand."""
    session = requests.Session()
    if settings.ca_file is not None:
        session.trust_env = False
        session.verify = str(settings.ca_file)
        session.proxies = urllib.request.getproxies()
    return session


class TokenSource:
    """Hands out a valid access token for the configured application; thread-safe."""

    def __init__(self, settings: GraphSettings) -> None:
        self._settings = settings
        self._app: msal.ConfidentialClientApplication | None = None
        self._session: requests.Session | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the connection to the authority (a kept-alive connection would hold it open)."""
        with self._lock:
            if self._session is not None:
                self._session.close()

    def _client(self) -> msal.ConfidentialClientApplication:
        # Built on first use: msal reads the authority's OpenID configuration in its constructor,
        # a network call that must not happen at import or start-up.
        if self._app is None:
            settings = self._settings
            if settings.client_secret is not None:
                credential: Any = settings.client_secret.get_secret_value()
            else:
                assert settings.certificate_path is not None  # noqa: S101 - validated by settings
                credential = _certificate_credential(str(settings.certificate_path))
            authority = f"{str(settings.authority_host).rstrip('/')}/{settings.tenant_id}"
            self._app = msal.ConfidentialClientApplication(
                settings.client_id,
                client_credential=credential,
                authority=authority,
                http_client=self._new_session(settings),
                timeout=settings.request_timeout_s,
                # Instance discovery asks login.microsoftonline.com about the authority: right for
                # Microsoft's clouds, impossible for a private (test) authority.
                instance_discovery="login.microsoftonline.com" in authority,
            )
        return self._app

    def _new_session(self, settings: GraphSettings) -> requests.Session:
        self._session = _session(settings)
        return self._session

    def token(self) -> str:
        """A valid access token (from msal's cache unless it is near expiry)."""
        with self._lock:
            try:
                result = self._client().acquire_token_for_client(scopes=SCOPES)
            except (requests.RequestException, ValueError) as exc:
                raise GraphUnavailableError(f"token request failed: {exc}") from exc
        if "access_token" in result:
            return str(result["access_token"])
        description = str(result.get("error_description") or result.get("error") or result)
        raise GraphAccessDeniedError(
            f"the identity platform refused the application: {description.splitlines()[0]}",
            code=str(result.get("error", "")),
        )
