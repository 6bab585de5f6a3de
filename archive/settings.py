"""The archive's settings: where its database is, how it serves, how long it keeps metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import Field, FilePath, SecretStr, field_validator, model_validator
from sqlalchemy.engine import make_url

from mfr.settings import MfrSettings, OpsAccess, Section, ServerTls

MIB = 1024 * 1024


class OidcSettings(Section):
    """``[archive.oidc]``: sign-in with the organisation's OpenID Connect provider (Entra ID,
    Keycloak, Okta, ...): the authorization-code flow with PKCE; the identity's email claim names
    the one mailbox its user reads. Unset ``issuer``: password sign-in only."""

    issuer: str | None = Field(
        default=None,
        pattern=r"^https://",
        description="the provider's issuer URL (its discovery document is at "
        "<issuer>/.well-known/openid-configuration; ID tokens must name exactly this issuer)",
    )
    client_id: str = Field(default="", description="the archive's client id at the provider")
    client_secret: SecretStr | None = Field(
        default=None, description="secret: MFR_ARCHIVE__OIDC__CLIENT_SECRET (environment only)"
    )
    scopes: str = Field(default="openid email profile", description="scopes asked for")
    email_claim: str = Field(
        default="email",
        description="the claim holding the user's mailbox address (Entra ID: email, or "
        "preferred_username for the UPN)",
    )
    admin_emails: tuple[str, ...] = Field(
        default=(), description="addresses whose users are admins (every mailbox, admin pages)"
    )
    groups_claim: str = Field(default="groups", description="the claim listing the groups")
    admin_groups: tuple[str, ...] = Field(
        default=(), description="members of any of these groups (claim values) are admins"
    )
    ca_file: FilePath | None = Field(
        default=None, description="CA to trust for the provider's HTTPS (default: the system's)"
    )
    button_label: str = Field(default="Sign in with your organisation account")

    @property
    def enabled(self) -> bool:
        """Whether the sign-in page offers the provider."""
        return self.issuer is not None

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.issuer is not None and not (self.client_id and self.client_secret):
            raise ValueError(
                "oidc.issuer needs oidc.client_id and MFR_ARCHIVE__OIDC__CLIENT_SECRET"
            )
        return self


class ArchiveSettings(Section):
    """The ``[archive]`` section of the config file (``MFR_ARCHIVE__*`` in the environment)."""

    database_url: SecretStr = Field(
        default=SecretStr("sqlite:///var/archive.sqlite3"),
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user:pw@host/db",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    tls: ServerTls = Field(
        default_factory=ServerTls, description="HTTPS on host:port (UI, browse API, ingest)"
    )
    ops: OpsAccess = Field(default_factory=OpsAccess, description="who may read /metrics")
    oidc: OidcSettings = Field(
        default_factory=OidcSettings, description="sign-in with an OpenID Connect provider"
    )
    retention_days: int = Field(
        default=3650, ge=1, description="how long metadata is kept (see README: what ages when)"
    )
    purge_interval_hours: float = Field(
        default=24.0, gt=0, description="how often the retention purge runs while serving"
    )
    max_request_bytes: int = Field(
        default=16 * MIB, ge=1024, description="largest ingest request body accepted"
    )
    max_batch_records: int = Field(default=5000, ge=1, description="most records in one batch")
    accept_mailbox_domains: tuple[str, ...] = Field(
        default=(),
        description="mail domains the archive accepts records for; empty accepts every domain",
    )
    session_max_age_s: int = Field(default=8 * 3600, ge=60)
    cookie_secure: bool = Field(
        default=True, description="send the session cookie only over HTTPS (off only for http dev)"
    )
    page_size_max: int = Field(default=200, ge=1, le=1000)
    export_max_messages: int = Field(
        default=100_000, ge=1, description="most messages one CSV or JSON export may hold"
    )
    session_secret: SecretStr | None = Field(
        default=None,
        description="key signing session cookies (at least 32 characters; environment only: "
        "MFR_ARCHIVE__SESSION_SECRET); unset: a key kept in the database, fine for a demo",
    )
    allowed_origins: tuple[str, ...] = Field(
        default=(),
        description="origins (scheme://host[:port]) besides the request's own Host whose forms "
        "and API calls are accepted: the public address when a proxy rewrites Host",
    )
    max_form_bytes: int = Field(
        default=64 * 1024, ge=1024, description="largest body of any request but ingest"
    )
    audit_log: Path | None = Field(
        default=None,
        description="JSON lines file of sign-ins, failures, lockouts and admin reads; unset: "
        "archive-audit.jsonl next to a SQLite database, else var/archive-audit.jsonl",
    )
    sign_in_free_failures: int = Field(
        default=3, ge=0, description="failed sign-ins of an account before its delays"
    )
    sign_in_delay_s: float = Field(
        default=1.0, gt=0, description="first delay after the free failures; doubles each time"
    )
    sign_in_max_delay_s: float = Field(default=60.0, gt=0)
    sign_in_lock_after: int = Field(
        default=10, ge=1, description="failed sign-ins that lock an account"
    )
    sign_in_address_free_failures: int = Field(
        default=10, ge=0, description="failed sign-ins from one address before its delays"
    )
    sign_in_address_lock_after: int = Field(
        default=50, ge=1, description="failed sign-ins (any accounts) that lock a client address"
    )
    sign_in_lock_minutes: float = Field(
        default=15.0, gt=0, description="how long a lock lasts; failures older are forgotten"
    )

    def audit_path(self) -> Path:
        """Where the audit log goes: ``audit_log``, or beside the SQLite file (so a demo's or a
        test's log stays in its own directory)."""
        if self.audit_log is not None:
            return self.audit_log
        url = make_url(self.database_url.get_secret_value())
        if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
            return Path(url.database).parent / "archive-audit.jsonl"
        return Path("var/archive-audit.jsonl")

    @field_validator("session_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("session_secret needs at least 32 characters")
        return value


class ArchiveConfig(MfrSettings):
    """Everything ``mfr archive`` reads: the shared bus section plus ``[archive]``."""

    archive: ArchiveSettings = ArchiveSettings()
