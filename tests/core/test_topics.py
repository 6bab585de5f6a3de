"""Topic names, keys and partitioning."""

from __future__ import annotations

import pytest

from mfr.settings import BusSettings
from mfr.topics import Topic, partition_key, record_key, topic_name, topic_specs


def test_every_topic_is_named_with_the_prefix_and_has_a_schema() -> None:
    """Each logical topic maps to one prefixed name and one contract record."""
    specs = topic_specs(BusSettings(topic_prefix="acme"))
    assert {s.name for s in specs.values()} == {f"acme.{t.value}" for t in Topic}
    assert all(s.schema and s.schema.startswith("mfr.replication.") for s in specs.values())
    assert topic_name(BusSettings(), Topic.MESSAGES) == "mfr.messages"


def test_state_topics_keep_history_for_the_retention_period_then_compact() -> None:
    """Folders and messages are compacted only after the retention period, so history replays."""
    specs = topic_specs(BusSettings(retention_days=30))
    for topic in (Topic.FOLDERS, Topic.MESSAGES):
        assert specs[topic].compacted
        assert specs[topic].config["min.compaction.lag.ms"] == str(30 * 86_400_000)
    assert not specs[Topic.CHANGES].compacted


def test_keys_partition_by_mailbox() -> None:
    """Entity keys start with the lower-cased mailbox, which alone decides the partition."""
    key = record_key(" Alice@Contoso.com ", "AAMk+/=")
    assert key == "alice@contoso.com AAMk+/="
    assert partition_key(key) == "alice@contoso.com"
    assert partition_key(record_key("alice@contoso.com")) == "alice@contoso.com"


@pytest.mark.parametrize("bad", ["", "   ", "two words@x.com"])
def test_keys_refuse_what_is_not_a_mailbox(bad: str) -> None:
    """A mailbox with spaces, or none, cannot make a key."""
    with pytest.raises(ValueError, match="not a mailbox address"):
        record_key(bad)
