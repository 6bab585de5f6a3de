"""Why a secured Kafka connection failed, in words an admin can act on.

kafka-python reports every failed bootstrap the same way, "Unable to bootstrap from [...]", after
its timeout, whether the broker was down, its certificate untrusted, or the password wrong; the
real cause goes only to its log. An admin who rotated a password or a CA needs the cause, and a
service must not retry forever on a credential that will never work. So when a client on SSL or
SASL_SSL cannot bootstrap, we redo the first steps ourselves with the same settings: a TCP
connection, then the TLS handshake with the configured CA and hostname check. A failure there is
named precisely; a successful handshake leaves the SASL login as the step that was refused.
Both are configuration errors (fatal), unlike an unreachable broker (retriable).
"""

from __future__ import annotations

import socket
import ssl
from typing import Any

_PROBE_TIMEOUT_S = 5.0


class Diagnosis:
    """The cause found, and whether retrying could help."""

    def __init__(self, cause: str, *, fatal: bool) -> None:
        self.cause = cause
        self.fatal = fatal


def diagnose_bootstrap(config: dict[str, Any]) -> Diagnosis | None:
    """Why clients with ``config`` (kafka-python's keywords) cannot bootstrap; None when the
    connection is not secured, so there is nothing more to find than kafka-python said."""
    protocol = config.get("security_protocol", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return None
    servers: list[str] = list(config.get("bootstrap_servers") or [])
    unreachable: list[str] = []
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            sock = socket.create_connection((host, int(port)), timeout=_PROBE_TIMEOUT_S)
        except (OSError, ValueError) as exc:
            unreachable.append(f"{server}: {exc}")
            continue
        with sock:
            if protocol in ("SSL", "SASL_SSL"):
                problem = _tls_problem(sock, host, config)
                if problem is not None:
                    return Diagnosis(f"TLS with {server} failed: {problem}", fatal=True)
        if protocol.startswith("SASL_"):
            user = config.get("sasl_plain_username")
            mechanism = config.get("sasl_mechanism")
            return Diagnosis(
                f"{server} accepted the connection but not the {mechanism} login of user "
                f"{user!r}: check the user and MFR_BUS__KAFKA_SECURITY__SASL_PLAIN_PASSWORD",
                fatal=True,
            )
        return None
    return Diagnosis("no bootstrap server reachable: " + "; ".join(unreachable), fatal=False)


def _tls_problem(sock: socket.socket, host: str, config: dict[str, Any]) -> str | None:
    context = ssl.create_default_context(cafile=config.get("ssl_cafile"))
    context.check_hostname = bool(config.get("ssl_check_hostname", True))
    if config.get("ssl_certfile"):
        context.load_cert_chain(config["ssl_certfile"], config.get("ssl_keyfile"))
    try:
        with context.wrap_socket(sock, server_hostname=host) as tls:
            tls.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        where = config.get("ssl_cafile") or "the system's CA store"
        return f"the broker's certificate is not trusted by {where} ({exc.verify_message})"
    except (ssl.SSLError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None
