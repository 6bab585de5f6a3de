"""Avro single-object encoding of the contract's records, with the ``avro`` package.

A record on the bus is ``C3 01`` + the CRC-64-AVRO fingerprint of its schema's canonical form
(8 bytes, little-endian) + the Avro binary body, so any Avro implementation holding the ``.avsc``
files can decode it. Every failure is a :class:`~mfr.errors.CodecError` saying which problem it was.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.errors
import avro.io
import avro.schema

from mfr.canonical import canonical_form, fingerprint
from mfr.errors import CodecError, CodecProblem
from schemas import SCHEMA_DIR

MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8

_DECODE_ERRORS = (
    avro.errors.AvroException,
    struct.error,
    IndexError,
    KeyError,
    ValueError,
    OverflowError,
    UnicodeDecodeError,
)


@dataclass(frozen=True)
class SchemaEntry:
    """One record schema of the contract, ready to encode and decode with."""

    name: str
    schema: avro.schema.RecordSchema
    canonical: str
    fingerprint: bytes
    path: Path


@dataclass(frozen=True)
class Decoded:
    """A decoded record: the full name of its schema and its fields."""

    name: str
    datum: dict[str, Any]


class Codec:
    """Encodes and decodes the contract's records; built once per process from the schema files."""

    def __init__(self, schema_dir: Path = SCHEMA_DIR) -> None:
        entries = [_load(path) for path in sorted(schema_dir.glob("*.avsc"))]
        self._by_name = {entry.name: entry for entry in entries}
        self._by_short_name = {entry.name.rpartition(".")[2]: entry for entry in entries}
        self._by_fingerprint = {entry.fingerprint: entry for entry in entries}
        self._writers = {e.name: avro.io.DatumWriter(e.schema) for e in entries}
        self._readers = {e.name: avro.io.DatumReader(e.schema, e.schema) for e in entries}
        self._schema_dir = schema_dir

    @property
    def names(self) -> list[str]:
        """Full names of every record schema the codec knows."""
        return sorted(self._by_name)

    def entry(self, name: str) -> SchemaEntry:
        """The schema called ``name`` (full name, or the short name within our namespace)."""
        found = self._by_name.get(name) or self._by_short_name.get(name)
        if found is None:
            raise CodecError(CodecProblem.UNKNOWN_SCHEMA, f"{name!r} is not one of {self.names}")
        return found

    def encode(self, name: str, datum: Mapping[str, Any]) -> bytes:
        """Single-object encoding of ``datum``; fields it leaves out take their schema defaults."""
        entry = self.entry(name)
        complete = _with_defaults(entry.schema, datum)
        buffer = io.BytesIO()
        buffer.write(MARKER + entry.fingerprint)
        try:
            self._writers[entry.name].write(complete, avro.io.BinaryEncoder(buffer))
        except avro.errors.AvroTypeException as exc:
            detail = f"{entry.name}: {_first_line(exc)}"
            raise CodecError(CodecProblem.INVALID_DATUM, detail) from exc
        return buffer.getvalue()

    def decode(self, data: bytes, expected: str | None = None) -> Decoded:
        """Decode a single-object encoded record, checking it is of ``expected`` schema if given."""
        entry = self._writer_entry(data)
        if expected is not None and entry.name != self.entry(expected).name:
            raise CodecError(
                CodecProblem.UNKNOWN_SCHEMA,
                f"expected a {self.entry(expected).name} record, got a {entry.name} record",
            )
        body = io.BytesIO(data[HEADER_SIZE:])
        try:
            datum = self._readers[entry.name].read(avro.io.BinaryDecoder(body))
        except _DECODE_ERRORS as exc:
            raise _body_error(entry.name, exc, body, len(data) - HEADER_SIZE) from exc
        leftover = len(data) - HEADER_SIZE - body.tell()
        if leftover:
            raise CodecError(
                CodecProblem.CORRUPT,
                f"{entry.name} record has {leftover} bytes after its last field",
            )
        if not isinstance(datum, dict):
            raise CodecError(CodecProblem.CORRUPT, f"{entry.name} did not decode to a record")
        return Decoded(entry.name, datum)

    def _writer_entry(self, data: bytes) -> SchemaEntry:
        if data[: len(MARKER)] != MARKER[: len(data)] or not data:
            raise CodecError(
                CodecProblem.NOT_SINGLE_OBJECT,
                f"expected marker C3 01, got {data[:2].hex(' ').upper() or 'an empty value'}",
            )
        if len(data) < HEADER_SIZE:
            raise CodecError(
                CodecProblem.TRUNCATED,
                f"{len(data)} bytes, but the single-object header alone is {HEADER_SIZE}",
            )
        found = self._by_fingerprint.get(data[len(MARKER) : HEADER_SIZE])
        if found is None:
            raise CodecError(
                CodecProblem.UNKNOWN_FINGERPRINT,
                f"{data[len(MARKER):HEADER_SIZE].hex()} (little-endian CRC-64-AVRO) is none of "
                f"the {len(self._by_fingerprint)} schemas in {self._schema_dir}",
            )
        return found


def _load(path: Path) -> SchemaEntry:
    text = path.read_text(encoding="utf-8")
    parsed = avro.schema.parse(text)
    if not isinstance(parsed, avro.schema.RecordSchema):
        raise CodecError(CodecProblem.UNKNOWN_SCHEMA, f"{path} is not a record schema")
    canonical = canonical_form(json.loads(text))
    return SchemaEntry(parsed.fullname, parsed, canonical, fingerprint(canonical), path)


def _with_defaults(schema: avro.schema.RecordSchema, datum: Mapping[str, Any]) -> dict[str, Any]:
    complete = dict(datum)
    for field in schema.fields:
        if field.name not in complete and field.has_default:
            complete[field.name] = field.default
        value = complete.get(field.name)
        record = _record_branch(field.type)
        if record is not None and isinstance(value, Mapping):
            complete[field.name] = _with_defaults(record, value)
    return complete


def _record_branch(schema: avro.schema.Schema) -> avro.schema.RecordSchema | None:
    if isinstance(schema, avro.schema.RecordSchema):
        return schema
    if isinstance(schema, avro.schema.UnionSchema):
        records = [s for s in schema.schemas if isinstance(s, avro.schema.RecordSchema)]
        return records[0] if len(records) == 1 else None
    return None


def _body_error(name: str, exc: Exception, body: io.BytesIO, size: int) -> CodecError:
    if isinstance(exc, avro.errors.InvalidAvroBinaryEncoding) and (
        body.tell() >= size or "remain" in str(exc)
    ):
        return CodecError(
            CodecProblem.TRUNCATED,
            f"{name} body ends after {size} bytes, before its last field ({_first_line(exc)})",
        )
    return CodecError(CodecProblem.CORRUPT, f"{name} body cannot be read: {_first_line(exc)}")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
