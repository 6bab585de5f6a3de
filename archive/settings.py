"""The archive's settings: where its database is, how it serves, how long it keeps metadata."""

from __future__ import annotations

from pydantic import Field, SecretStr

from mfr.settings import MfrSettings, Section

MIB = 1024 * 1024


class ArchiveSettings(Section):
    """The ``[archive]`` section of the config file (``MFR_ARCHIVE__*`` in the environment)."""

    database_url: SecretStr = Field(
        default=SecretStr("sqlite:///var/archive.sqlite3"),
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user:pw@host/db",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
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


class ArchiveConfig(MfrSettings):
    """Everything ``mfr archive`` reads: the shared bus section plus ``[archive]``."""

    archive: ArchiveSettings = ArchiveSettings()
