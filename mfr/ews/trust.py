"""Which CA exchangelib trusts for Exchange's certificate: ``[exchange] ca_file``.

On-premises Exchange is usually served with a certificate of the organisation's own CA, which
the system's CA store does not hold. exchangelib builds its HTTP sessions itself, with one
adapter class for every protocol of the process (``BaseProtocol.HTTP_ADAPTER_CLS``, the hook its
documentation names for this), so the per-session ``verify`` is out of reach. The adapter here
checks requests to a registered origin (scheme, host, port of the EWS endpoint) against that
origin's CA file and leaves every other request as requests would check it; with Autodiscover
(no endpoint) the CA file applies to every address exchangelib calls. The configured file wins
over ``REQUESTS_CA_BUNDLE``, which requests would otherwise let the environment impose.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from exchangelib.protocol import BaseProtocol

ANY_ORIGIN = "*"
_trusted: dict[str, str] = {}
_lock = threading.Lock()


def origin(url: str) -> str:
    """``scheme://host:port`` of ``url``, the port made explicit."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


def trust(endpoint: str | None, ca_file: Path) -> None:
    """Check the certificate of ``endpoint`` (every address, when None) against ``ca_file``.

    The adapter class in place (``mfr.ews.transport``'s, installed first) is kept and given the
    trust check on top, so both apply to the sessions made from now on."""
    with _lock:
        _trusted[origin(endpoint) if endpoint else ANY_ORIGIN] = str(ca_file)
        current = BaseProtocol.HTTP_ADAPTER_CLS
        if not issubclass(current, TrustAdapter):
            BaseProtocol.HTTP_ADAPTER_CLS = type(
                f"Trusting{current.__name__}", (TrustAdapter, current), {}
            )


def _verify_for(url: str, verify: Any) -> Any:
    with _lock:
        found = _trusted.get(origin(url)) or _trusted.get(ANY_ORIGIN)
    return found if found and verify is not False else verify


class TrustAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter, with the configured CA file for Exchange's origins; mixed in before
    whichever adapter class exchangelib uses."""

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, _verify_for(url, verify), cert)

    def get_connection_with_tls_context(
        self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        return super().get_connection_with_tls_context(
            request, _verify_for(request.url, verify), proxies=proxies, cert=cert
        )
