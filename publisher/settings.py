"""The publisher's settings: where the archive is, how to batch, how to retry."""

from __future__ import annotations

from typing import Self

from pydantic import Field, FilePath, SecretStr, model_validator

from mfr.settings import MfrSettings, OpsAccess, Section, ServerTls


class PublisherSettings(Section):
    """The ``[publisher]`` section of the config file (``MFR_PUBLISHER__*`` in the environment)."""

    archive_url: str = Field(
        default="http://127.0.0.1:8080", pattern=r"^https?://", description="the archive's base URL"
    )
    ingest_token: SecretStr | None = Field(
        default=None, description="from `mfr archive --add-token NAME`; required"
    )
    group: str = Field(default="mfr-publisher", description="consumer group on the bus")
    batch_max_records: int = Field(default=500, ge=1, le=5000)
    linger_ms: int = Field(
        default=200, ge=0, description="how long a batch waits to fill before it is sent"
    )
    request_timeout_s: float = Field(default=30.0, gt=0)
    retry_initial_s: float = Field(default=0.5, gt=0, description="first back-off")
    retry_max_s: float = Field(default=30.0, gt=0, description="longest back-off")
    health_host: str = "127.0.0.1"
    health_port: int = Field(
        default=9108, ge=0, le=65535, description="/healthz, /readyz, /metrics; 0 picks a port"
    )
    ca_file: FilePath | None = Field(
        default=None,
        description="CA (PEM) that signed the archive's certificate, for an https archive_url; "
        "unset: the system's CAs",
    )
    tls: ServerTls = Field(default_factory=ServerTls, description="HTTPS on the health port")
    ops: OpsAccess = Field(default_factory=OpsAccess, description="who may read /metrics "
                           "(the health port is already an address of its own: no ops.host)")

    @model_validator(mode="after")
    def _health_port_is_the_ops_address(self) -> Self:
        if self.ops.host is not None:
            raise ValueError("publisher.ops.host: the health port is already separate; set "
                             "health_host and health_port instead")
        return self


class PublisherConfig(MfrSettings):
    """Everything ``mfr publisher`` reads: the shared bus section plus ``[publisher]``."""

    publisher: PublisherSettings = PublisherSettings()
