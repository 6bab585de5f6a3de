"""TLS contexts for both ends of the pipeline's HTTP hops, built in one place so every service
applies the same policy: TLS 1.2 at least, certificates checked against the system's CAs or a CA
file the admin names (an internal CA is the norm for Exchange on-premises and for the archive).

Server side, uvicorn builds its own context from the same files; the publisher's small health
server uses ``server_context``. A key file that cannot be read fails at start as a
``ConfigError`` naming the file, instead of on the first handshake.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from mfr.errors import ConfigError
from mfr.settings import ServerTls


def server_context(tls: ServerTls) -> ssl.SSLContext:
    """A server context holding ``tls``'s certificate and key."""
    if tls.cert_file is None or tls.key_file is None:
        raise ConfigError("tls.cert_file and tls.key_file are needed to serve HTTPS")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(
            f"cannot use {tls.cert_file} with {tls.key_file} for HTTPS: {exc}"
        ) from exc
    return context


def check_server_files(tls: ServerTls) -> None:
    """Fail now, with the file names, if ``tls`` is set but its files do not make a pair."""
    if tls.enabled:
        server_context(tls)


def client_context(ca_file: Path | None) -> ssl.SSLContext:
    """A client context trusting ``ca_file`` only, or the system's CAs when it is None."""
    context = _trusting(ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def pinned_context(cert_file: Path) -> ssl.SSLContext:
    """A client context that trusts exactly the certificate(s) in ``cert_file`` and nothing else,
    for reaching a server of this very process over loopback: its certificate names its public
    address, not 127.0.0.1, so the host name is not checked; holding the key is the proof."""
    context = client_context(cert_file)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN  # a leaf as the trust anchor
    return context


def _trusting(ca_file: Path | None) -> ssl.SSLContext:
    if ca_file is None:
        return ssl.create_default_context()
    try:
        return ssl.create_default_context(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot use CA file {ca_file}: {exc}") from exc
