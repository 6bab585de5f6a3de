"""Every record either bus stores says what it is in its headers: schema, fingerprint and
content type."""

from __future__ import annotations

from pathlib import Path

import pytest

from mfr.bus.headers import CONTENT_TYPE, FINGERPRINT, SCHEMA, SINGLE_OBJECT, record_headers
from mfr.codec import Codec
from schemas import SCHEMA_DIR
from tests.contract.backends import Backend, embedded, kafka
from tests.contract.helpers import drain
from tests.core.samples import SAMPLES, as_written_by, encode_with

V1_MESSAGE = SCHEMA_DIR / "released" / "MessageState" / "v1.avsc"


@pytest.fixture(params=["embedded", pytest.param("kafka", marks=pytest.mark.kafka)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The embedded bus and a real Kafka broker."""
    if request.param == "embedded":
        return embedded(tmp_path / "bus.sqlite3")
    return kafka(request.getfixturevalue("kafka_bootstrap"))


def test_every_record_carries_its_schema_fingerprint_and_content_type(backend: Backend) -> None:
    """A record of every schema, and one written with a released older version, reach the
    consumer with headers naming the writer schema and its fingerprint (as in the value's own
    header); a caller's other headers are kept, and bytes that are not Avro get none of ours."""
    codec = Codec()
    values = {name: codec.encode(name, datum) for name, datum in SAMPLES.items()}
    old = as_written_by(V1_MESSAGE, SAMPLES["MessageState"])
    values["MessageState v1"] = encode_with(V1_MESSAGE, old)
    with backend.open() as bus:
        topic = backend.new_topic(bus, partitions=1)
        with bus.producer() as producer:
            for label, value in values.items():
                producer.produce(topic, "alice@example.com " + label, value, {"trace": b"t1"})
            producer.produce(topic, "alice@example.com raw", b"not avro")
            producer.flush()
        with bus.consumer("headers-check", [topic]) as consumer:
            records = {r.key: r for r in drain(consumer, len(values) + 1)}
    assert len(records) == len(values) + 1
    for label, value in values.items():
        headers = dict(records["alice@example.com " + label].headers)
        name = "mfr.replication." + label.split()[0]
        assert headers == {
            "trace": b"t1",
            CONTENT_TYPE: SINGLE_OBJECT,
            SCHEMA: name.encode(),
            FINGERPRINT: value[2:10].hex().encode(),
        }, label
    assert values["MessageState v1"][2:10] != values["MessageState"][2:10]
    assert dict(records["alice@example.com raw"].headers) == {}


def test_a_fingerprint_of_no_known_schema_is_named_but_not_given_a_schema() -> None:
    """An unknown fingerprint still gets the content type and the fingerprint, and a stale schema
    header from the caller is dropped rather than passed on as true."""
    value = b"\xc3\x01" + bytes(range(8)) + b"\x00"
    headers = record_headers(value, {SCHEMA: b"mfr.replication.FolderState"})
    assert headers == {CONTENT_TYPE: SINGLE_OBJECT, FINGERPRINT: b"0001020304050607"}
