"""The simulator's settings: where it listens, how it looks to clients, its limits and
population."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from mfr.settings import MfrSettings, Section

# Microsoft's EWS schema, kept beside the project (../shared/reference/ews-schema).
DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "ews-schema"


def schema_dir_of(section: SimulatorSection) -> Path | None:
    """Where Microsoft's EWS schema is: the configured folder (which must hold it), else the
    reference copy beside the project when there is one, else None (an installed simulator
    without the reference, e.g. a container image: it then cannot validate requests)."""
    if section.schema_dir is not None:
        return section.schema_dir
    return DEFAULT_SCHEMA_DIR if (DEFAULT_SCHEMA_DIR / "messages.xsd").is_file() else None


class Limits(Section):
    """Exchange's throttling budgets (defaults: Exchange Online's, from
    how-to-maintain-affinity-between-group-of-subscriptions-and-mailbox-server.md)."""

    max_concurrency: int = Field(default=27, ge=1, description="EWSMaxConcurrency per budget")
    hanging_connections: int = Field(
        default=10, ge=1, description="HangingConnectionLimit: streaming connections per budget"
    )
    max_subscriptions: int = Field(
        default=20, ge=1, description="EWSMaxSubscriptions: live subscriptions per budget"
    )
    subscriptions_per_connection: int = Field(default=200, ge=1)
    busy_back_off_ms: int = Field(default=5000, ge=0, description="BackOffMilliseconds reported")


class Population(Section):
    """What the simulator starts with: generated mailboxes and the service account."""

    mailboxes: int = Field(default=0, ge=0)
    messages: int = Field(default=0, ge=0, description="messages per mailbox")
    seed: int = 1
    domain: str = "sim.example"
    activity_per_s: float = Field(default=0.0, ge=0.0, description="live changes per second")
    service_account: str = "svc-mfr@sim.example"
    service_password: SecretStr = SecretStr("simulator")
    service_token: SecretStr = SecretStr("simulator-oauth-token")
    user_password: SecretStr = SecretStr("password")


class GraphSection(Section):
    """The Microsoft Graph face (issue 11): tenant, app registration, limits, delivery timing.

    Times marked "simulator clock" are measured on ``Clock``, which tests advance; the defaults
    are Microsoft's documented numbers, and tests shrink the ones they cannot wait for."""

    tenant_id: str = "8c2f3a51-3b9d-4e36-9b3e-6b0a5d6c1e77"
    client_id: str = "2d9e7a54-0f3c-4b8e-a1d2-5c6b7e8f9a01"
    client_secret: SecretStr = SecretStr("simulator-graph-secret")
    token_lifetime_s: int = Field(default=3599, ge=1)
    concurrency: int = Field(default=4, ge=1, description="concurrent requests (throttling)")
    concurrency_scope: str = Field(default="mailbox", pattern="^(mailbox|app)$")
    requests_per_10_min: int = Field(default=10_000, ge=1, description="per app and mailbox")
    default_page_size: int = Field(default=10, ge=1, le=1000)
    max_page_size: int = Field(default=1000, ge=1)
    subscription_max_minutes: int = Field(default=4230, ge=1, description="Outlook messages")
    validation_timeout_s: float = Field(default=10.0, gt=0, description="handshake answer time")
    ack_timeout_s: float = Field(default=3.0, gt=0, description="notification answer time")
    slow_threshold_s: float = Field(default=2.9, gt=0, description="an answer slower is slow")
    retry_initial_s: float = Field(
        default=60.0, gt=0, description="first redelivery delay (simulator clock); doubles"
    )
    retry_window_s: float = Field(
        default=4 * 3600.0, gt=0, description="redelivery stops after this (simulator clock)"
    )
    max_notifications_per_post: int = Field(default=100, ge=1)
    delivery_poll_s: float = Field(default=0.05, gt=0, description="how often delivery looks")
    max_subscriptions_per_mailbox: int = Field(default=1000, ge=1, description="all apps")
    slow_min_notifications: int = Field(
        default=100, ge=1, description="notifications before the slow share is judged"
    )
    slow_window_s: float = Field(
        default=600.0, gt=0, description="slow counts are flushed this often (simulator clock)"
    )
    slow_delay_s: float = Field(
        default=600.0, gt=0, description="a flagged endpoint's delay and retry (simulator clock)"
    )
    reauthorize_notice_s: float = Field(
        default=3600.0, ge=0, description="reauthorizationRequired this long before expiry"
    )
    reauthorize_every_s: float = Field(
        default=900.0, gt=0, description="...and again this often (simulator clock)"
    )
    reauthorize_grace_s: float = Field(
        default=600.0, gt=0, description="an unanswered challenge pauses notifications after"
    )
    max_request_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)


class SimulatorSection(Section):
    """The EWS simulator."""

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    backends: list[str] = Field(default_factory=lambda: ["MBX01", "MBX02", "MBX03"], min_length=1)
    server_build: tuple[int, int, int, int] = (15, 2, 1118, 7)
    server_version: str = Field(default="V2017_07_11", description="ServerVersionInfo Version")
    max_request_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    keepalive_s: float = Field(
        default=30.0, gt=0, description="seconds between ConnectionStatus OK keep-alives"
    )
    poll_s: float = Field(default=0.05, gt=0, description="how often streams and push look")
    push_retry_initial_s: float = Field(
        default=30.0, gt=0, description="first push retry delay; doubles (statusfrequency.md)"
    )
    push_timeout_s: float = Field(default=10.0, gt=0)
    push_ca_file: Path | None = Field(
        default=None, description="CA (PEM) trusted for https push callback URLs; unset: the "
        "system's CAs"
    )
    validate_responses: bool = Field(
        default=False, description="check every response body against messages.xsd"
    )
    schema_dir: Path | None = Field(
        default=None,
        description="folder holding messages.xsd and types.xsd: every request is validated; "
        "unset: ../shared/reference/ews-schema beside the project, if there",
    )
    tls: bool = Field(
        default=False, description="serve HTTPS with a certificate of the simulator's own CA"
    )
    tls_dir: Path | None = Field(
        default=None, description="where that CA and certificate are kept (None: a temp folder)"
    )
    limits: Limits = Limits()
    graph: GraphSection = GraphSection()
    population: Population = Population()


class SimulatorSettings(MfrSettings):
    """Settings of ``mfr simulator``."""

    simulator: SimulatorSection = SimulatorSection()
