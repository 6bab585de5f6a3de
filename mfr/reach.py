"""Why a server cannot be reached, in one line an operator can act on, and a cheap probe.

HTTP clients bury the cause of a network failure deep in their exception chain: exchangelib
reports a DNS failure as "No valid version headers found in response", wrapping a requests
``ConnectionError``, wrapping urllib3's ``NameResolutionError``, wrapping the ``gaierror`` that
says what happened. ``network_cause`` walks the chain and names the one failure that matters —
DNS, connection (refused, timed out, reset) or TLS — with the host it concerns, so logs,
``/readyz`` and the admin page say "DNS: cannot resolve mail.contoso.com" instead.

``probe`` is how a service that has nothing to ask a server right now (an idle extractor) still
knows whether it could: a plain request to the server's address, judged by whether any HTTP
answer comes back, not by which.
"""

from __future__ import annotations

import re
import socket
import ssl
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from mfr.tls import client_context

UNREACHABLE_CODES = ("DnsFailure", "ConnectionFailed", "TlsFailure")
_HOST = re.compile(r"host='([^']+)', port=(\d+)")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 20:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def network_cause(exc: BaseException, where: str | None = None) -> tuple[str, str] | None:
    """(code, one line) when ``exc`` is a network failure (code one of ``UNREACHABLE_CODES``);
    None when it is something else (an HTTP answer, an EWS error). ``where``: the address, when
    the exceptions do not say it. The text counts as much as the classes: exchangelib re-raises
    a refused connection as ``ErrorServerBusy("Reraised from ConnectionError(...)")``, keeping
    only the words."""
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain)
    found = _HOST.search(text)
    where = f"{found.group(1)}:{found.group(2)}" if found else where or "the server"
    host = where.rsplit(":", 1)[0] if ":" in where else where
    if any(isinstance(e, socket.gaierror) for e in chain) or any(
            marker in text for marker in ("NameResolutionError", "Failed to resolve",
                                          "Name or service not known", "getaddrinfo failed")):
        reason = next((e.strerror for e in chain if isinstance(e, socket.gaierror)), None)
        if reason is None:
            found_reason = re.search(r"\[Errno -?\d+\] ([^)\"'\\]+)", text)
            reason = found_reason.group(1) if found_reason else "no address"
        return "DnsFailure", f"DNS: cannot resolve {host} ({reason})"
    tls = next((e for e in chain if isinstance(e, ssl.SSLError)), None)
    if tls is not None or "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in text:
        reason = getattr(tls, "reason", None) or (
            "certificate not trusted" if "CERTIFICATE_VERIFY_FAILED" in text else "TLS error")
        return "TlsFailure", f"TLS: handshake with {where} failed ({str(reason)[:200]})"
    line = _connection_cause(chain, text, where)
    return None if line is None else ("ConnectionFailed", line)


def _connection_cause(chain: list[BaseException], text: str, where: str) -> str | None:
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "Connection refused" in text:
        return f"connection: {where} refused the connection"
    if any(isinstance(e, ConnectionResetError) for e in chain) or "Connection reset" in text:
        return f"connection: {where} reset the connection"
    transport = any(isinstance(e, ConnectionError | httpx.TransportError) for e in chain) or any(
        marker in text for marker in ("NewConnectionError", "Max retries exceeded",
                                      "ConnectTimeout", "ConnectionError("))
    if transport and ("timed out" in text or "Timeout" in text):
        return f"connection: {where} did not answer in time"
    if transport:
        return f"connection: cannot connect to {where}"
    return None


def probe(url: str, ca_file: Path | None = None, timeout_s: float = 5.0) -> str | None:
    """None when ``url``'s server answers HTTP at all (any status: a 401 without credentials is
    an answer); else the one-line cause (DNS, connection, TLS)."""
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    verify: ssl.SSLContext | bool = client_context(ca_file) if parts.scheme == "https" else False
    try:
        with httpx.Client(verify=verify, timeout=timeout_s) as client:
            client.get(url)
    except httpx.HTTPError as exc:
        found = network_cause(exc, where)
        return found[1] if found else f"connection: {where}: {exc}"
    return None
