"""The event bus: one interface, a Kafka backend and an embedded single-machine backend."""

from __future__ import annotations

from mfr.bus.base import Bus, Consumer, Headers, Producer, Record
from mfr.settings import BusSettings


def open_bus(settings: BusSettings) -> Bus:
    """The bus the settings describe: Kafka if bootstrap servers are set, else the embedded one."""
    if settings.uses_kafka:
        from mfr.bus.kafka import KafkaBus  # noqa: PLC0415 - kafka-python loads only when used

        return KafkaBus(settings)
    from mfr.bus.embedded import EmbeddedBus  # noqa: PLC0415

    return EmbeddedBus(settings.embedded_path, settings.session_timeout_s)


__all__ = ["Bus", "BusSettings", "Consumer", "Headers", "Producer", "Record", "open_bus"]
