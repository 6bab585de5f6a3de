"""The codec: single-object encoding any Avro implementation can read, and precise errors."""

from __future__ import annotations

import contextlib
import io
import json
import os
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import avro.io
import avro.schema
import fastavro
import pytest

from mfr.codec import HEADER_SIZE, MARKER, Codec
from mfr.diagnosis import ResolvingReader
from mfr.errors import CodecError, CodecProblem
from schemas import SCHEMA_DIR
from tests.core.evolution import released_versions
from tests.core.samples import SAMPLES, as_written_by, encode_with

NOW = datetime(2026, 11, 23, 12, 30, 15, 123000, tzinfo=UTC)
RELEASES = [
    (name, version, path)
    for name, versions in released_versions(SCHEMA_DIR).items()
    for version, path in versions
]


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec()


def message(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "mailbox": "alice@contoso.com",
        "message_key": "AAMkAGI2-key",
        "item_id": "AAMkAGI2-id",
        "folder_key": "inbox-key",
        "last_known_folder_key": "inbox-key",
        "subject": "Quarterly numbers — café ☕",
        "sender": {"name": "Bob", "email_address": "bob@contoso.com", "routing_type": "SMTP"},
        "to_recipients": [{"name": "Alice", "email_address": "alice@contoso.com"}],
        "datetime_received": NOW,
        "size": 12345,
        "importance": "High",
        "sensitivity": "Normal",
        "is_read": False,
        "flag_status": "Flagged",
        "categories": ["Red", "Finance"],
        "has_attachments": True,
        "internet_message_id": "<abc@contoso.com>",
        "item_class": "IPM.Note",
        "version": 7,
        "observed_time": NOW,
    }
    return {**base, **fields}


def test_every_contract_schema_is_documented_and_in_one_namespace() -> None:
    """Each .avsc is a record in mfr.replication with a doc on the record and on every field."""
    for path in SCHEMA_DIR.glob("*.avsc"):
        schema = json.loads(path.read_text())
        assert schema["namespace"] == "mfr.replication", path.name
        assert schema["doc"], path.name
        for field in schema["fields"]:
            assert field.get("doc"), f"{path.name}: {field['name']} has no doc"


def test_round_trip_keeps_every_field(codec: Codec) -> None:
    """A record decodes to what was encoded, with omitted fields at their schema defaults."""
    decoded = codec.decode(codec.encode("MessageState", message()))
    assert decoded.name == "mfr.replication.MessageState"
    assert decoded.datum["subject"] == "Quarterly numbers — café ☕"
    assert decoded.datum["datetime_received"] == NOW
    assert decoded.datum["to_recipients"][0]["routing_type"] is None
    assert decoded.datum["deleted"] is False
    assert decoded.datum["bcc_recipients"] == []


def test_encoding_is_single_object_with_the_spec_fingerprint(codec: Codec) -> None:
    """The record starts with C3 01 and the little-endian CRC-64-AVRO of the canonical schema."""
    data = codec.encode("MessageState", message())
    parsed = json.loads((SCHEMA_DIR / "MessageState.avsc").read_text())
    canonical = fastavro.schema.to_parsing_canonical_form(parsed)
    expected = fastavro.schema.fingerprint(canonical, "CRC-64-AVRO")
    assert data[:2] == MARKER == b"\xc3\x01"
    assert data[2:HEADER_SIZE].hex() == expected


@pytest.mark.parametrize("name", ["ChangeEvent", "FolderState", "MessageState", "Checkpoint"])
def test_another_avro_implementation_decodes_with_only_the_schema_file(
    codec: Codec, name: str
) -> None:
    """fastavro reads our records using nothing but the .avsc file."""
    samples: dict[str, dict[str, object]] = {
        "ChangeEvent": {"event_id": "e1", "mailbox": "a@b.c", "event_type": "Moved",
                        "target": "Item", "id": "new", "old_id": "old", "source": "Streaming",
                        "event_time": NOW, "received_time": NOW},
        "FolderState": {"mailbox": "a@b.c", "folder_key": "f", "folder_id": "f",
                        "display_name": "Inbox", "version": 1, "observed_time": NOW},
        "MessageState": message(),
        "Checkpoint": {"mailbox": "a@b.c", "scope": "Folder", "folder_id": "f",
                       "sync_state": "H4sIAAA=", "phase": "InitialSync", "pages": 3,
                       "items_synced": 1536, "updated_time": NOW},
    }
    data = codec.encode(name, samples[name])
    schema = fastavro.parse_schema(json.loads((SCHEMA_DIR / f"{name}.avsc").read_text()))
    theirs = fastavro.schemaless_reader(io.BytesIO(data[HEADER_SIZE:]), schema, None)
    ours = codec.decode(data).datum
    assert theirs == ours


def test_garbage_is_reported_as_not_single_object(codec: Codec) -> None:
    """Bytes without the marker say so, naming the bytes found."""
    with pytest.raises(CodecError, match=r"not single-object encoded.*got 7B 22") as caught:
        codec.decode(b'{"json": "not avro"}')
    assert caught.value.problem is CodecProblem.NOT_SINGLE_OBJECT


def test_random_bytes_never_escape_as_foreign_errors(codec: Codec) -> None:
    """Whatever the bytes, decoding raises CodecError or returns a record, nothing else."""
    valid = codec.encode("ChangeEvent", {"event_id": "e", "mailbox": "m", "event_type": "Created",
                                         "target": "Item", "source": "Push", "received_time": NOW})
    for seed in range(300):
        noise = os.urandom(seed % 60)
        for data in (noise, valid[:HEADER_SIZE] + noise):
            with contextlib.suppress(CodecError):
                codec.decode(data)


@pytest.mark.parametrize("cut", [1, 5, HEADER_SIZE - 1])
def test_a_truncated_header_is_reported_as_truncated(codec: Codec, cut: int) -> None:
    """A record cut inside its 10-byte header is truncated, not garbage."""
    data = codec.encode("MessageState", message())
    with pytest.raises(CodecError, match=r"truncated") as caught:
        codec.decode(data[:cut])
    assert caught.value.problem is CodecProblem.TRUNCATED


def test_a_truncated_body_is_reported_as_truncated(codec: Codec) -> None:
    """A record cut inside its body is truncated, naming its schema."""
    data = codec.encode("MessageState", message())
    for cut in range(HEADER_SIZE, len(data), 7):
        expected = r"truncated: mfr\.replication\.MessageState"
        with pytest.raises(CodecError, match=expected) as caught:
            codec.decode(data[:cut])
        assert caught.value.problem is CodecProblem.TRUNCATED


def test_an_unknown_fingerprint_is_reported_with_the_fingerprint(codec: Codec) -> None:
    """A record written with a schema we do not have names the fingerprint."""
    data = MARKER + bytes.fromhex("0102030405060708") + b"\x00"
    with pytest.raises(CodecError, match=r"unknown schema fingerprint: 0102030405060708"):
        codec.decode(data)


def test_trailing_bytes_are_reported_as_corrupt(codec: Codec) -> None:
    """Bytes after the last field mean the record is not what its header says."""
    data = codec.encode("MessageState", message()) + b"\x00\x01"
    with pytest.raises(CodecError, match=r"corrupt body: .* 2 bytes after its last field"):
        codec.decode(data)


def test_a_datum_that_does_not_fit_the_schema_is_refused(codec: Codec) -> None:
    """Encoding a wrong value raises CodecError naming the schema, and writes nothing."""
    with pytest.raises(CodecError, match=r"datum does not match the schema: .*MessageState"):
        codec.encode("MessageState", message(size="big"))


def test_naive_datetimes_are_refused(codec: Codec) -> None:
    """A timestamp without a time zone is ambiguous, so it cannot be encoded."""
    with pytest.raises(CodecError, match=r"datum does not match"):
        codec.encode("MessageState", message(datetime_received=datetime(2026, 1, 1)))


def test_decode_can_insist_on_a_schema(codec: Codec) -> None:
    """A consumer expecting folder states is told when it got a message state."""
    data = codec.encode("MessageState", message())
    with pytest.raises(CodecError, match=r"expected a mfr\.replication\.FolderState record"):
        codec.decode(data, expected="FolderState")


def test_unknown_schema_names_are_refused(codec: Codec) -> None:
    """Asking for a schema that does not exist lists the ones that do."""
    with pytest.raises(CodecError, match=r"'Nope' is not one of"):
        codec.encode("Nope", {})


def test_an_unknown_event_type_reads_as_resync() -> None:
    """A reader meeting a newer event type falls back to Resync, the safe interpretation."""
    writer = json.loads((SCHEMA_DIR / "ChangeEvent.avsc").read_text())
    reader = json.loads((SCHEMA_DIR / "ChangeEvent.avsc").read_text())
    writer["fields"][2]["type"]["symbols"].append("Teleported")
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(writer), {
        "event_id": "e", "mailbox": "m", "event_type": "Teleported", "target": "Item",
        "source": "Push", "received_time": NOW})
    buffer.seek(0)
    datum = fastavro.schemaless_reader(
        buffer, fastavro.parse_schema(writer), fastavro.parse_schema(reader)
    )
    assert isinstance(datum, dict)
    assert datum["event_type"] == "Resync"


PRE_EPOCH = datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=UTC)
ELSEWHERE = datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5)))


def variants(name: str) -> list[dict[str, Any]]:
    """The full sample of ``name``, one with its optional fields empty, and one with edge values:
    instants before the epoch and off UTC with sub-millisecond parts, extreme longs, odd text."""
    full = SAMPLES[name]
    sparse = {k: v for k, v in full.items() if v is not None and not isinstance(v, list)}
    edgy = dict(full)
    for key, value in full.items():
        if isinstance(value, datetime):
            edgy[key] = PRE_EPOCH if len(key) % 2 else ELSEWHERE
        elif isinstance(value, int) and not isinstance(value, bool):
            edgy[key] = -(2**63) if key == "version" else 2**31 - 1
        elif isinstance(value, str) and key not in ENUMS:
            edgy[key] = value + " \u0000 \U0001f4e7 " + "x" * 300
        elif isinstance(value, float):
            edgy[key] = -0.0
    return [full, sparse, edgy]


ENUMS = {"event_type", "target", "source", "scope", "phase", "delete_kind", "importance",
         "sensitivity", "flag_status", "exchange_api", "component", "state"}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_records_are_byte_identical_to_what_the_avro_package_wrote(codec: Codec, name: str) -> None:
    """fastavro writes exactly the bytes the avro package wrote before the switch, so records
    already on the topics and new ones are the same records."""
    current = SCHEMA_DIR / f"{name}.avsc"
    for datum in variants(name):
        with_defaults = codec.decode(codec.encode(name, datum)).datum
        assert codec.encode(name, datum) == encode_with(current, with_defaults)


@pytest.mark.parametrize(
    ("name", "version", "path"), RELEASES, ids=[f"{n}-v{v}" for n, v, _ in RELEASES]
)
def test_every_version_decodes_as_the_avro_package_decoded_it(
    codec: Codec, name: str, version: int, path: Path
) -> None:
    """A record of any released version decodes to what the avro package's resolving reader (the
    codec before fastavro) made of it."""
    current = avro.schema.parse((SCHEMA_DIR / f"{name}.avsc").read_text())
    written = avro.schema.parse(path.read_text())
    for datum in variants(name):
        data = encode_with(path, as_written_by(path, codec.decode(codec.encode(name, datum)).datum))
        reference = ResolvingReader(written, current).read(
            avro.io.BinaryDecoder(io.BytesIO(data[HEADER_SIZE:]))
        )
        assert codec.decode(data).datum == reference, f"{name} v{version}"


@pytest.mark.parametrize(
    ("name", "field", "value", "problem"),
    [
        ("MessageState", "categories", "Red", r"categories: an array must be a list, not str"),
        ("MessageState", "to_recipients", {"name": "x"}, r"to_recipients: an array must be a"),
        ("MessageState", "datetime_sent", datetime(2026, 1, 1), r"datetime_sent: .*naive"),
        ("MessageState", "observed_time", 1_700_000_000_000, r"must be a datetime, not int"),
        ("DeadLetter", "headers", [("trace", b"\x01")], r"headers: a map must be a mapping"),
        ("DeadLetter", "failed_time", "2026-01-01T00:00:00Z", r"must be a datetime, not str"),
    ],
)
def test_values_fastavro_would_write_with_another_meaning_are_refused(
    codec: Codec, name: str, field: str, value: object, problem: str
) -> None:
    """A string for an array, a naive or numeric timestamp, a list for a map: fastavro would write
    them as something else; the codec refuses them as the avro package did, naming the field."""
    with pytest.raises(CodecError, match=r"datum does not match the schema: .*" + problem):
        codec.encode(name, {**SAMPLES[name], field: value})
