"""Avro single-object encoding of the contract's records, with the ``avro`` package, and the reading
of records written with any released version of a schema.

A record on the bus is ``C3 01`` + the CRC-64-AVRO fingerprint of its schema's canonical form
(8 bytes, little-endian) + the Avro binary body, so any Avro implementation holding the ``.avsc``
files can decode it. Every failure is a :class:`~mfr.errors.CodecError` saying which problem it was.

Why released versions: the state topics are compacted, not expired, so a record written before a
schema changed stays on its topic for good, and a replay must still read it after an upgrade. In
single-object encoding the fingerprint identifies the schema the record was *written* with, and
the reader reads the data through its own schema by *schema resolution*: fields the writer did not
have take the reader's defaults, fields the reader does not have are skipped, and a symbol missing
from the reader's enum takes that enum's default (Avro specification 1.12, "Single object
encoding" and "Schema Resolution", https://avro.apache.org/docs/1.12.0/specification/). So the
codec keeps every released version, ``schemas/released/<Name>/v<N>.avsc``, finds the writer by its
fingerprint and always hands callers a datum of the *current* schema: no caller ever sees an old
shape. That every version stays resolvable both ways is checked in the test suite with Java's
``SchemaCompatibility``; the rules are in the README ("Schema evolution").

The ``avro`` package resolves enums against the specification: it raises when the writer's symbol
is missing from the reader's enum instead of taking the reader's default, and answers the writer's
default for an index past the writer's symbols, which is corruption. :class:`_ResolvingReader`
reads enums as the specification says and leaves the rest of the package's resolution alone.

A record of the current version is read by a reader whose writer and reader schemas are the same
object, as before released versions existed, so the common case pays nothing for them.
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
RELEASED = "released"

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
class ReleasedVersion:
    """One released version of a contract schema: records written with it stay readable."""

    version: int
    entry: SchemaEntry


@dataclass(frozen=True)
class Decoded:
    """A decoded record: the full name of its schema and its fields, in the current schema."""

    name: str
    datum: dict[str, Any]


@dataclass(frozen=True)
class _Reading:
    """How to read a record whose header carries one fingerprint."""

    current: SchemaEntry
    reader: avro.io.DatumReader
    writer: str


class _UnresolvableError(avro.errors.AvroException):
    """The writer's data has no place in the reader's schema."""


class _ResolvingReader(avro.io.DatumReader):
    """The package's DatumReader, with enums resolved as Avro's specification says."""

    def read_enum(
        self,
        writers_schema: avro.schema.EnumSchema,
        readers_schema: avro.schema.EnumSchema,
        decoder: avro.io.BinaryDecoder,
    ) -> str:
        index = decoder.read_int()
        if not 0 <= index < len(writers_schema.symbols):
            raise avro.errors.AvroException(
                f"enum index {index} is outside {writers_schema.fullname}'s "
                f"{len(writers_schema.symbols)} symbols"
            )
        symbol: str = writers_schema.symbols[index]
        if writers_schema is readers_schema or symbol in readers_schema.symbols:
            return symbol
        default: str | None = readers_schema.default
        if default is None:
            raise _UnresolvableError(
                f"{symbol} is not a {readers_schema.fullname} symbol and the enum has no default"
            )
        return default


class Codec:
    """Encodes and decodes the contract's records; built once per process from the schema files.

    ``schema_dir`` holds the current schemas (the ones records are written with) and, under
    ``released/<Name>/v<N>.avsc``, every released version, whose records it reads too.
    """

    def __init__(self, schema_dir: Path = SCHEMA_DIR) -> None:
        entries = [_load(path) for path in sorted(schema_dir.glob("*.avsc"))]
        self._by_name = {entry.name: entry for entry in entries}
        self._by_short_name = {entry.name.rpartition(".")[2]: entry for entry in entries}
        self._writers = {e.name: avro.io.DatumWriter(e.schema) for e in entries}
        self._released = _load_released(schema_dir / RELEASED)
        self._by_fingerprint: dict[bytes, _Reading] = {
            e.fingerprint: _Reading(e, _ResolvingReader(e.schema, e.schema), "the current schema")
            for e in entries
        }
        for name, versions in self._released.items():
            current = self._by_name.get(name)
            if current is None:
                continue  # a removed schema: nothing to read it into (the policy forbids it)
            for released in versions:
                self._by_fingerprint.setdefault(
                    released.entry.fingerprint,
                    _Reading(
                        current,
                        _ResolvingReader(released.entry.schema, current.schema),
                        f"released version {released.version}",
                    ),
                )
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

    def released(self, name: str) -> list[ReleasedVersion]:
        """Every released version of the schema called ``name``, oldest first."""
        return list(self._released.get(self.entry(name).name, []))

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
        """Decode a single-object encoded record written with the current or any released version
        of its schema, into the current schema; check it is of ``expected`` schema if given."""
        reading = self._reading(data)
        name = reading.current.name
        if expected is not None and name != self.entry(expected).name:
            raise CodecError(
                CodecProblem.UNKNOWN_SCHEMA,
                f"expected a {self.entry(expected).name} record, got a {name} record",
            )
        body = io.BytesIO(data[HEADER_SIZE:])
        try:
            datum = reading.reader.read(avro.io.BinaryDecoder(body))
        except _DECODE_ERRORS as exc:
            raise _body_error(reading, exc, body, len(data) - HEADER_SIZE) from exc
        leftover = len(data) - HEADER_SIZE - body.tell()
        if leftover:
            raise CodecError(
                CodecProblem.CORRUPT, f"{name} record has {leftover} bytes after its last field"
            )
        if not isinstance(datum, dict):
            raise CodecError(CodecProblem.CORRUPT, f"{name} did not decode to a record")
        return Decoded(name, datum)

    def _reading(self, data: bytes) -> _Reading:
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
                f"{data[len(MARKER) : HEADER_SIZE].hex()} (little-endian CRC-64-AVRO) is none of "
                f"the {len(self._by_fingerprint)} current and released schema versions in "
                f"{self._schema_dir}",
            )
        return found


def _load(path: Path) -> SchemaEntry:
    try:
        text = path.read_text(encoding="utf-8")
        parsed = avro.schema.parse(text)
        canonical = canonical_form(json.loads(text))
    except (OSError, ValueError, avro.errors.AvroException) as exc:
        raise CodecError(CodecProblem.UNKNOWN_SCHEMA, f"{path}: {_first_line(exc)}") from exc
    if not isinstance(parsed, avro.schema.RecordSchema):
        raise CodecError(CodecProblem.UNKNOWN_SCHEMA, f"{path} is not a record schema")
    return SchemaEntry(parsed.fullname, parsed, canonical, fingerprint(canonical), path)


def _load_released(released_dir: Path) -> dict[str, list[ReleasedVersion]]:
    """``released/<Name>/v<N>.avsc`` by full name, oldest first; the layout is checked because a
    misfiled version would silently read records into the wrong schema."""
    found: dict[str, list[ReleasedVersion]] = {}
    for path in sorted(released_dir.glob("*/*.avsc")):
        number = path.stem.removeprefix("v")
        if not path.stem.startswith("v") or not number.isdigit() or int(number) < 1:
            raise CodecError(CodecProblem.UNKNOWN_SCHEMA, f"{path}: not named v<N>.avsc (N >= 1)")
        entry = _load(path)
        if entry.name.rpartition(".")[2] != path.parent.name:
            raise CodecError(
                CodecProblem.UNKNOWN_SCHEMA, f"{path} holds {entry.name}, not {path.parent.name}"
            )
        found.setdefault(entry.name, []).append(ReleasedVersion(int(number), entry))
    return {name: sorted(versions, key=lambda v: v.version) for name, versions in found.items()}


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


def _body_error(reading: _Reading, exc: Exception, body: io.BytesIO, size: int) -> CodecError:
    name = reading.current.name
    if isinstance(exc, avro.errors.InvalidAvroBinaryEncoding) and (
        body.tell() >= size or "remain" in str(exc)
    ):
        return CodecError(
            CodecProblem.TRUNCATED,
            f"{name} body ends after {size} bytes, before its last field ({_first_line(exc)})",
        )
    if isinstance(exc, (avro.errors.SchemaResolutionException, _UnresolvableError)):
        return CodecError(
            CodecProblem.CORRUPT,
            f"{name} written with {reading.writer} cannot be read into the current schema: "
            f"{_first_line(exc)}",
        )
    return CodecError(CodecProblem.CORRUPT, f"{name} body cannot be read: {_first_line(exc)}")


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
