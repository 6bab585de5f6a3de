"""Settings of the single-machine modes: one TOML file with every component's section.

``[bus]``, ``[archive]`` and ``[publisher]`` are enough for ``mfr replay``; ``mfr run`` also
needs ``[exchange]`` and reads ``[extractor]`` and ``[listener]``. Each section is the very one
the component's own command reads, so a file written for ``mfr run`` also serves the separate
``mfr extractor``, ``mfr publisher``... processes of a Kafka deployment.
"""

from __future__ import annotations

from archive.settings import ArchiveConfig, ArchiveSettings
from extractor.settings import ExtractorSection, ExtractorSettings
from listener.settings import ListenerSection, ListenerSettings
from mfr.ews import ExchangeSettings
from mfr.settings import MfrSettings
from publisher.settings import PublisherConfig, PublisherSettings


class ReplaySettings(MfrSettings):
    """What ``mfr replay`` reads: the bus, the archive's settings, the publisher's batching."""

    archive: ArchiveSettings = ArchiveSettings()
    publisher: PublisherSettings = PublisherSettings()

    def publisher_config(self, **changes: object) -> PublisherConfig:
        """The publisher's settings with ``changes`` (built as is: the environment was read)."""
        return PublisherConfig.model_construct(
            bus=self.bus, publisher=self.publisher.model_copy(update=changes)
        )

    def archive_config(self) -> ArchiveConfig:
        """The archive's settings."""
        return ArchiveConfig.model_construct(bus=self.bus, archive=self.archive)


class RunSettings(ReplaySettings):
    """What ``mfr run`` reads: every component's section."""

    exchange: ExchangeSettings
    extractor: ExtractorSection = ExtractorSection()
    listener: ListenerSection = ListenerSection()

    def extractor_settings(self) -> ExtractorSettings:
        """The extractor's settings, as ``mfr extractor`` would read them from the same file."""
        return ExtractorSettings.model_construct(
            bus=self.bus, exchange=self.exchange, extractor=self.extractor
        )

    def listener_settings(self) -> ListenerSettings:
        """The listener's settings, as ``mfr listener`` would read them from the same file."""
        return ListenerSettings.model_construct(
            bus=self.bus, exchange=self.exchange, listener=self.listener
        )
