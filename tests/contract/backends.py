"""The two bus backends as the contract suite sees them: same calls, one fixture parameter."""

from __future__ import annotations

import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from mfr.bus import Bus, open_bus
from mfr.settings import BusSettings, KafkaSecurity
from mfr.topics import Topic, TopicSpec
from tests.kafka.broker import SecureListener

SESSION_TIMEOUT_S = 6.0  # the broker's group.min.session.timeout.ms


@dataclass
class Backend:
    """How to reach one backend, and how to make a fresh topic on it."""

    name: str
    settings: BusSettings

    def open(self) -> Bus:
        """A new connection, as a freshly started process would make."""
        return open_bus(self.settings)

    def new_topic(self, bus: Bus, partitions: int = 3, **config: str) -> str:
        """A topic no other test uses."""
        name = f"test-{uuid.uuid4().hex[:12]}"
        spec = TopicSpec(Topic.CHANGES, name, None, partitions, config)
        bus.ensure_topics([spec])
        return name

    def worker_env(self) -> dict[str, str]:
        """Environment for a worker process to reach the same bus through ``MFR_*`` settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("MFR_BUS__")}
        env["MFR_BUS__SESSION_TIMEOUT_S"] = str(self.settings.session_timeout_s)
        if self.settings.kafka_bootstrap_servers:
            env["MFR_BUS__KAFKA_BOOTSTRAP_SERVERS"] = self.settings.kafka_bootstrap_servers
            security = self.settings.kafka_security
            for name, value in security.model_dump(exclude_none=True).items():
                secret = getattr(value, "get_secret_value", None)
                plain = secret() if secret is not None else value
                env[f"MFR_BUS__KAFKA_SECURITY__{name.upper()}"] = str(plain)
        else:
            env["MFR_BUS__EMBEDDED_PATH"] = str(self.settings.embedded_path)
        env["PYTHONPATH"] = os.pathsep.join(sys.path)
        return env


def embedded(path: Path) -> Backend:
    """The embedded bus in a file of its own."""
    settings = BusSettings(embedded_path=path, session_timeout_s=SESSION_TIMEOUT_S)
    return Backend("embedded", settings)


def kafka(bootstrap: str) -> Backend:
    """A real Kafka broker."""
    settings = BusSettings(kafka_bootstrap_servers=bootstrap, session_timeout_s=SESSION_TIMEOUT_S)
    return Backend("kafka", settings)


def kafka_sasl_ssl(listener: SecureListener) -> Backend:
    """A real Kafka broker's SASL_SSL listener: TLS to a CA made for the run, a SCRAM user."""
    security = KafkaSecurity(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username=listener.username,
        sasl_plain_password=SecretStr(listener.password),
        ssl_cafile=listener.ca_file,
    )
    settings = BusSettings(
        kafka_bootstrap_servers=listener.bootstrap,
        kafka_security=security,
        session_timeout_s=SESSION_TIMEOUT_S,
    )
    return Backend("kafka-sasl-ssl", settings)
