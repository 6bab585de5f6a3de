"""Settings of ``mfr extractor``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from extractor.drift import DriftSettings
from extractor.filters import FilterSettings
from mfr.ews import ExchangeSettings
from mfr.settings import MfrSettings, OpsAccess, Section, ServerTls


class ExtractorSection(Section):
    """How the extractor works."""

    state_path: Path = Field(default=Path("var/extractor-state.sqlite3"),
                             description="local cache of published states (rebuilt if lost)")
    group: str = Field(default="mfr-extractor", description="consumer group on the changes topic")
    coalesce_s: float = Field(default=2.0, ge=0, le=60,
                              description="how long a mailbox's events are gathered into one cycle")
    parallel_mailboxes: int = Field(default=4, ge=1, le=64,
                                    description="mailboxes synced at once (threads)")
    get_item_batch: int = Field(default=100, ge=1, le=500)
    graph_page_size: int = Field(default=200, ge=1, le=1000,
                                 description="api = graph: messages per delta page "
                                 "(Prefer: odata.maxpagesize)")
    graph_batch: bool = Field(default=True, description="api = graph: read messages and folders "
                              "by id 20 to a $batch request instead of one by one")
    attempts: int = Field(default=6, ge=1, description="cycles tried before events dead-letter")
    retry_after_s: float = Field(default=5.0, gt=0, description="first pause after a failure")
    load_poll_s: float = Field(default=1.0, gt=0, description="start-up: a topic is read to its "
                               "end once a poll this long brings nothing")
    host: str = "127.0.0.1"
    port: int = Field(default=8082, ge=0, le=65535, description="health, metrics and status")
    tls: ServerTls = Field(default_factory=ServerTls, description="HTTPS on host:port")
    ops: OpsAccess = Field(default_factory=OpsAccess,
                           description="who may read /status and /metrics")
    filters: FilterSettings = FilterSettings()
    drift: DriftSettings = Field(default_factory=DriftSettings,
                                 description="comparing the archive with Exchange")


class ExtractorSettings(MfrSettings):
    """Everything ``mfr extractor`` needs."""

    exchange: ExchangeSettings
    extractor: ExtractorSection = ExtractorSection()
