"""The one place that names topics, says what each holds, and builds record keys.

Layout (prefix ``mfr`` by default):

============== ============= ================================ ===================================
topic          record        key                              cleanup
============== ============= ================================ ===================================
changes        ChangeEvent   mailbox                          delete after changes_retention_hours
folders        FolderState   mailbox + " " + folder_key       compact, never before retention_days
messages       MessageState  mailbox + " " + message_key      compact, never before retention_days
checkpoints    Checkpoint    mailbox + " " + scope            compact
status         MailboxStatus mailbox + " " + component        compact
dead-letters   DeadLetter    the original key                 delete after retention_days
============== ============= ================================ ===================================

Every record is partitioned by its mailbox (the key up to the first space; SMTP addresses have no
spaces), so one mailbox's records stay in order. The state topics are compacted with
``min.compaction.lag.ms`` equal to the retention period: every state a key went through stays on the
topic for the whole retention period (the history), and after that compaction keeps the latest one
per key forever (the current state). Replaying folders and messages from the beginning therefore
rebuilds the archive and its history within retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from mfr.settings import BusSettings

KEY_SEPARATOR = " "
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000


class Topic(StrEnum):
    """The logical topics of the pipeline."""

    CHANGES = "changes"
    FOLDERS = "folders"
    MESSAGES = "messages"
    CHECKPOINTS = "checkpoints"
    STATUS = "status"
    DEAD_LETTERS = "dead-letters"


SCHEMA_OF: dict[Topic, str | None] = {
    Topic.CHANGES: "mfr.replication.ChangeEvent",
    Topic.FOLDERS: "mfr.replication.FolderState",
    Topic.MESSAGES: "mfr.replication.MessageState",
    Topic.CHECKPOINTS: "mfr.replication.Checkpoint",
    Topic.STATUS: "mfr.replication.MailboxStatus",
    Topic.DEAD_LETTERS: "mfr.replication.DeadLetter",
}


@dataclass(frozen=True)
class TopicSpec:
    """A topic as it is created on the bus."""

    topic: Topic
    name: str
    schema: str | None
    partitions: int
    config: dict[str, str]

    @property
    def compacted(self) -> bool:
        """Whether the bus keeps only the latest record per key (eventually)."""
        return "compact" in self.config.get("cleanup.policy", "")


def topic_specs(settings: BusSettings) -> dict[Topic, TopicSpec]:
    """Every topic of the pipeline, named and configured from the bus settings."""
    return {topic: _spec(topic, settings) for topic in Topic}


def topic_name(settings: BusSettings, topic: Topic) -> str:
    """The bus name of a logical topic, e.g. ``mfr.messages``."""
    return f"{settings.topic_prefix}.{topic.value}"


def _spec(topic: Topic, settings: BusSettings) -> TopicSpec:
    retention = str(settings.retention_days * _DAY_MS)
    configs = {
        Topic.CHANGES: {
            "cleanup.policy": "delete",
            "retention.ms": str(settings.changes_retention_hours * _HOUR_MS),
        },
        Topic.FOLDERS: {"cleanup.policy": "compact", "min.compaction.lag.ms": retention},
        Topic.MESSAGES: {"cleanup.policy": "compact", "min.compaction.lag.ms": retention},
        Topic.CHECKPOINTS: {"cleanup.policy": "compact"},
        Topic.STATUS: {"cleanup.policy": "compact"},
        Topic.DEAD_LETTERS: {"cleanup.policy": "delete", "retention.ms": retention},
    }
    return TopicSpec(
        topic=topic,
        name=topic_name(settings, topic),
        schema=SCHEMA_OF[topic],
        partitions=settings.partitions,
        config=configs[topic],
    )


def normalise_mailbox(mailbox: str) -> str:
    """Mailbox addresses are compared and keyed in lower case, without surrounding spaces."""
    return mailbox.strip().lower()


def record_key(mailbox: str, *parts: str) -> str:
    """The key of a record about ``mailbox`` and, for entity topics, the entity's key parts."""
    mailbox = normalise_mailbox(mailbox)
    if not mailbox or KEY_SEPARATOR in mailbox:
        raise ValueError(f"not a mailbox address: {mailbox!r}")
    return KEY_SEPARATOR.join((mailbox, *parts))


def partition_key(key: str) -> str:
    """The part of a key that decides its partition: the mailbox."""
    return key.split(KEY_SEPARATOR, 1)[0]


def checkpoint_key(mailbox: str, folder_id: str | None) -> str:
    """Key of a checkpoint: the mailbox's hierarchy (``folder_id`` None) or one of its folders."""
    return record_key(mailbox, "hierarchy") if folder_id is None else record_key(
        mailbox, "folder", folder_id
    )


def status_key(mailbox: str, component: str) -> str:
    """Key of a mailbox status record of one pipeline component."""
    return record_key(mailbox, component.lower())
