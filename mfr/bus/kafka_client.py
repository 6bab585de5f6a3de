"""How this project talks to Kafka with kafka-python: the client configuration built from
``[bus]``, kafka-python's records turned into ours, and its errors translated at this boundary into
the bus's own (retriable ``BusUnavailableError``, ``CommitFailedError`` after a rebalance, fatal
``BusError``), so no caller ever sees a ``kafka.errors`` type.
"""

from __future__ import annotations

from typing import Any

import kafka.errors

from mfr.bus.base import Record
from mfr.bus.bootstrap import diagnose_bootstrap
from mfr.errors import BusError, BusUnavailableError, CommitFailedError
from mfr.settings import BusSettings

_UNAVAILABLE = (
    kafka.errors.KafkaTimeoutError,
    kafka.errors.KafkaConnectionError,
    kafka.errors.NodeNotReadyError,
    kafka.errors.RequestTimedOutError,
)


def translate(action: str, exc: Exception) -> BusError:
    if isinstance(exc, kafka.errors.CommitFailedError | kafka.errors.RebalanceInProgressError):
        return CommitFailedError(f"{action}: the group rebalanced, records will be redelivered")
    if isinstance(exc, _UNAVAILABLE) or getattr(exc, "retriable", False):
        return BusUnavailableError(f"{action}: Kafka unavailable ({type(exc).__name__}: {exc})")
    return BusError(f"{action}: {type(exc).__name__}: {exc}")


def connect_error(action: str, exc: Exception, config: dict[str, Any]) -> BusError:
    """``translate`` for a failed first connection, with the cause when it is secured."""
    if isinstance(exc, kafka.errors.KafkaTimeoutError):
        found = diagnose_bootstrap(config)
        if found is not None and found.fatal:
            return BusError(f"{action}: {found.cause}")
        if found is not None:
            return BusUnavailableError(f"{action}: {found.cause}")
    return translate(action, exc)


def client_config(settings: BusSettings) -> dict[str, Any]:
    security = settings.kafka_security
    config: dict[str, Any] = {
        "bootstrap_servers": (settings.kafka_bootstrap_servers or "").split(","),
        "client_id": settings.client_id,
        "security_protocol": security.security_protocol,
    }
    if security.sasl_mechanism:
        config["sasl_mechanism"] = security.sasl_mechanism
        config["sasl_plain_username"] = security.sasl_plain_username
        if security.sasl_plain_password is not None:
            config["sasl_plain_password"] = security.sasl_plain_password.get_secret_value()
    if security.security_protocol in ("SSL", "SASL_SSL"):
        config["ssl_check_hostname"] = security.ssl_check_hostname
        if security.ssl_cafile:
            config["ssl_cafile"] = str(security.ssl_cafile)
        if security.ssl_certfile and security.ssl_keyfile:
            config["ssl_certfile"] = str(security.ssl_certfile)
            config["ssl_keyfile"] = str(security.ssl_keyfile)
    return config


def to_record(raw: Any) -> Record:
    return Record(
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key=raw.key.decode("utf-8", "replace") if raw.key is not None else None,
        value=raw.value if raw.value is not None else b"",
        timestamp_ms=raw.timestamp,
        headers={name: value or b"" for name, value in raw.headers or []},
    )
