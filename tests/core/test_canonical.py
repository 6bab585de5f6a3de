"""Parsing Canonical Form and CRC-64-AVRO, checked against Avro's own cross-language test vectors
(apache/avro share/test/data/schema-tests.txt) and against fastavro."""

from __future__ import annotations

import json

import fastavro.schema
import pytest

from mfr.canonical import canonical_form, crc64_avro, fingerprint
from schemas import SCHEMA_DIR

# (input schema, canonical form, fingerprint as Java's signed long) from Avro's shared test data.
VECTORS = [
    ('"null"', '"null"', 7195948357588979594),
    ('{"type":"int"}', '"int"', 8247732601305521295),
    ('"long"', '"long"', -3434872931120570953),
    ('[ "int" , {"type":"boolean"} ]', '["int","boolean"]', 5392556393470105090),
    ('{"fields":[], "type":"record", "name":"foo", "namespace":"x.y"}',
     '{"name":"x.y.foo","type":"record","fields":[]}', 5916914534497305771),
    ('{"fields":[], "type":"record", "name":"foo", "doc":"x", "aliases":["bar"]}',
     '{"name":"foo","type":"record","fields":[]}', -4824392279771201922),
    ('{ "fields":[{"type":"boolean", "aliases":[], "name":"f1", "default":"true"},'
     '{"order":"descending","name":"f2","doc":"Hello","type":"int"}],'
     ' "type":"record", "name":"foo"}',
     '{"name":"foo","type":"record","fields":[{"name":"f1","type":"boolean"},'
     '{"name":"f2","type":"int"}]}', -4860222112080293046),
    ('{"namespace":"x.y.z", "type":"enum", "name":"foo", "doc":"foo bar", "symbols":["A1", "A2"]}',
     '{"name":"x.y.z.foo","type":"enum","symbols":["A1","A2"]}', -4448647247586288245),
    ('{"namespace":"x.y.z", "type":"fixed", "name":"foo", "doc":"foo bar", "size":32}',
     '{"name":"x.y.z.foo","type":"fixed","size":32}', -3064184465700546786),
    ('{ "items":{"type":"null"}, "type":"array"}', '{"type":"array","items":"null"}',
     -589620603366471059),
    ('{"name":"PigValue","type":"record",'
     '"fields":[{"name":"value", "type":["null", "int", "long", "PigValue"]}]}',
     '{"name":"PigValue","type":"record","fields":[{"name":"value",'
     '"type":["null","int","long","PigValue"]}]}', -1759257747318642341),
]


@pytest.mark.parametrize(("schema", "canonical", "signed"), VECTORS)
def test_canonical_form_and_fingerprint_match_avros_test_vectors(
    schema: str, canonical: str, signed: int
) -> None:
    """Our canonical form and CRC-64-AVRO agree with the values every Avro implementation tests."""
    assert canonical_form(json.loads(schema)) == canonical
    assert crc64_avro(canonical.encode()) == signed & 0xFFFF_FFFF_FFFF_FFFF


def test_logical_types_reduce_to_their_primitive() -> None:
    """A logical type is stripped like any non-parsing attribute, leaving the bare primitive."""
    schema = {"type": "long", "logicalType": "timestamp-millis"}
    assert canonical_form(schema) == '"long"'


@pytest.mark.parametrize("path", sorted(SCHEMA_DIR.glob("*.avsc")), ids=lambda p: p.stem)
def test_contract_schemas_have_the_canonical_form_fastavro_computes(path: object) -> None:
    """fastavro, an independent implementation, finds the same canonical form and fingerprint."""
    parsed = json.loads(path.read_text())  # type: ignore[attr-defined]
    theirs = fastavro.schema.to_parsing_canonical_form(parsed)
    assert canonical_form(parsed) == theirs
    expected = fastavro.schema.fingerprint(theirs, "CRC-64-AVRO")
    assert fingerprint(theirs).hex() == expected
