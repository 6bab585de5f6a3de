"""Settings shared by every service: where the bus is, how topics are laid out, and how a
service's endpoints are served (HTTPS, who may read its status and metrics).

Settings come from, in rising priority: defaults, a TOML config file, ``MFR_*`` environment
variables (nested with ``__``: ``MFR_BUS__KAFKA_BOOTSTRAP_SERVERS``). Unknown keys are errors, so
a typo fails loudly at start-up instead of silently running on a default. Each service builds its
settings once in its entry point and passes them down.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from mfr.errors import ConfigError


class Section(BaseModel):
    """A section of the config file: strict, immutable, no unknown keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class KafkaSecurity(Section):
    """How to reach a production Kafka cluster: TLS, and SASL (SCRAM) credentials.

    Refused at start rather than at the first failed connection: SASL without a user or password,
    a CA, certificate or key file that does not exist, client certificate without its key."""

    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_plain_username: str | None = None
    sasl_plain_password: SecretStr | None = Field(
        default=None, description="secret: MFR_BUS__KAFKA_SECURITY__SASL_PLAIN_PASSWORD"
    )
    ssl_cafile: FilePath | None = Field(
        default=None, description="CA bundle that signed the brokers' certificates (PEM)"
    )
    ssl_certfile: FilePath | None = Field(
        default=None, description="client certificate (PEM), where brokers require one"
    )
    ssl_keyfile: FilePath | None = Field(default=None, description="its private key (PEM)")
    ssl_check_hostname: bool = Field(
        default=True, description="check that a broker's certificate names the address dialled"
    )

    @model_validator(mode="after")
    def _complete(self) -> Self:
        sasl = self.security_protocol.startswith("SASL_")
        if sasl and self.sasl_mechanism is None:
            raise ValueError(f"{self.security_protocol} needs sasl_mechanism (e.g. SCRAM-SHA-512)")
        if sasl and (not self.sasl_plain_username or self.sasl_plain_password is None):
            raise ValueError(
                f"{self.security_protocol} needs sasl_plain_username and the password "
                "(MFR_BUS__KAFKA_SECURITY__SASL_PLAIN_PASSWORD)"
            )
        if not sasl and self.sasl_mechanism is not None:
            raise ValueError(
                f"sasl_mechanism is set but security_protocol is {self.security_protocol}"
            )
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise ValueError("ssl_certfile and ssl_keyfile go together")
        return self


class ServerTls(Section):
    """HTTPS for one service's endpoints: its certificate (PEM, any intermediates after it) and
    the unencrypted private key (readable by the service's user only). Both or neither: unset,
    the service speaks plain HTTP, fine on loopback or behind a TLS-terminating proxy."""

    cert_file: FilePath | None = Field(default=None, description="certificate chain (PEM)")
    key_file: FilePath | None = Field(default=None, description="its private key (PEM)")

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("tls.cert_file and tls.key_file go together")
        return self

    @property
    def enabled(self) -> bool:
        """Whether the service serves HTTPS."""
        return self.cert_file is not None


class OpsAccess(Section):
    """Who may read a service's ``/status`` and ``/metrics`` (they name every mailbox and its
    errors). Probes (``/healthz``, ``/readyz``) stay open: an orchestrator must reach them.

    Unset, only loopback clients get them. With ``token``, any client presenting it as a bearer
    token (loopback too). With ``host``, they are served on that separate address (plus the
    probes) and no longer on the service's main one, where Exchange, Graph or users call."""

    token: SecretStr | None = Field(
        default=None, min_length=16,
        description="secret: MFR_<SERVICE>__OPS__TOKEN; 'Authorization: Bearer ...'",
    )
    host: str | None = Field(
        default=None, description="separate address for /status and /metrics; unset: the main one"
    )
    port: int = Field(default=0, ge=0, le=65535, description="its port (with host)")

    @property
    def separate(self) -> bool:
        """Whether /status and /metrics have an address of their own."""
        return self.host is not None


class BusSettings(Section):
    """Where the event bus is. No Kafka bootstrap servers means the embedded single-machine bus."""

    kafka_bootstrap_servers: str | None = Field(
        default=None, description="host:port[,host:port...]; unset runs on the embedded bus"
    )
    kafka_security: KafkaSecurity = KafkaSecurity()
    embedded_path: Path = Field(
        default=Path("var/bus.sqlite3"), description="file of the embedded bus"
    )
    topic_prefix: str = Field(default="mfr", pattern=r"^[A-Za-z0-9._-]+$")
    partitions: int = Field(default=12, ge=1, description="partitions of each new Kafka topic")
    replication_factor: int | None = Field(
        default=None, ge=1, description="of new Kafka topics; unset: min(3, brokers)"
    )
    retention_days: int = Field(
        default=3650,
        ge=1,
        description="the organisation's email retention: how long state history stays replayable",
    )
    changes_retention_hours: int = Field(
        default=168, ge=1, description="how long raw change hints stay on the bus"
    )
    client_id: str = "mfr"
    session_timeout_s: float = Field(
        default=10.0,
        ge=1.0,
        le=300.0,
        description="a consumer silent this long is presumed dead; its records go to another",
    )
    startup_patience_s: float = Field(
        default=300.0,
        ge=0.0,
        description="how long a starting service waits for an unavailable Kafka before it exits",
    )

    @property
    def uses_kafka(self) -> bool:
        """Whether this configuration runs on Kafka rather than the embedded bus."""
        return bool(self.kafka_bootstrap_servers)


class MfrSettings(BaseSettings):
    """Base of every service's settings: the bus section plus environment and file loading."""

    model_config = SettingsConfigDict(
        env_prefix="MFR_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    bus: BusSettings = BusSettings()

    @classmethod
    def load(cls, config_file: Path | None = None, **overrides: Any) -> Self:
        """Build settings from the file (if any), the environment and explicit overrides."""
        file_values = _read_toml(config_file) if config_file else {}
        _refuse_secrets(file_values, config_file)
        known = {name: file_values[name] for name in cls.model_fields if name in file_values}
        try:
            return cls(**{**known, **overrides})
        except ValidationError as exc:
            raise ConfigError(_describe(exc, config_file)) from exc

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment overrides the file, which is passed in as init values.
        return (env_settings, init_settings)


# Secrets the file must not hold: a config file is copied, mounted and committed; the
# environment (or the orchestrator's secret store behind it) is where they belong.
_SECRETS = (
    ("exchange", "password"),
    ("exchange", "client_secret"),
    ("exchange", "graph", "client_secret"),
    ("bus", "kafka_security", "sasl_plain_password"),
    ("archive", "session_secret"),
    ("archive", "oidc", "client_secret"),
    ("archive", "ops", "token"),
    ("listener", "ops", "token"),
    ("extractor", "ops", "token"),
    ("extractor", "drift", "archive_token"),
    ("publisher", "ops", "token"),
    ("publisher", "ingest_token"),
)


def _refuse_secrets(values: dict[str, Any], path: Path | None) -> None:
    for where in _SECRETS:
        found: Any = values
        for name in where:
            found = found.get(name) if isinstance(found, dict) else None
        if found is not None:
            variable = "MFR_" + "__".join(where).upper()
            raise ConfigError(
                f"config file {path} holds a secret ({'.'.join(where)}): give it "
                f"as the environment variable {variable} instead"
            )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _describe(exc: ValidationError, config_file: Path | None) -> str:
    where = f" (config file {config_file} and MFR_* environment)" if config_file else ""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
    )
    return f"invalid settings{where}: {problems}"
