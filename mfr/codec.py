"""Avro single-object encoding of the contract's records, and the reading of records written with
any released version of a schema.

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

Why two Avro libraries: every record of the pipeline passes through here several times, and
fastavro (compiled) encodes and decodes 5 to 14 times faster than the ``avro`` package (pure
Python; ``benchmarks/codec_bench.py``), so bodies are written and read with fastavro, from
schemas parsed once. The bytes are the same either way (a test compares them on every schema and
released version). The ``avro`` package stays where speed does not matter and its strictness
does: it parses the schema files, its parsed schemas drive the checks fastavro's writer leaves out
(:mod:`mfr.datumcheck`), and it reads a body fastavro refused once more, to say precisely why
(:mod:`mfr.diagnosis`).

A record of the current version is read without schema resolution, so the common case pays
nothing for the released versions.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.errors
import avro.schema
import fastavro
import fastavro.read

from mfr.canonical import canonical_form, fingerprint
from mfr.datumcheck import Check, MisfitError, compile_check
from mfr.diagnosis import ResolvingReader, explain, first_line
from mfr.errors import CodecError, CodecProblem
from schemas import SCHEMA_DIR

MARKER = b"\xc3\x01"
HEADER_SIZE = len(MARKER) + 8
RELEASED = "released"

# What fastavro's writer raises for a datum that does not fit its schema.
_ENCODE_ERRORS = (MisfitError, ValueError, TypeError, KeyError, AttributeError, OverflowError)
# What fastavro's reader raises on a body that is not what its header says (hostile input:
# noise after a valid header reaches every corner of the reader, so the net is wide).
_DECODE_ERRORS = (
    fastavro.read.SchemaResolutionError,
    EOFError,
    StopIteration,
    IndexError,
    KeyError,
    ValueError,
    TypeError,
    OverflowError,
    MemoryError,
    UnicodeDecodeError,
)


@dataclass(frozen=True)
class SchemaEntry:
    """One record schema of the contract, ready to encode and decode with: ``schema`` as the
    ``avro`` package parsed it (for inspection), ``parsed`` as fastavro did (for speed)."""

    name: str
    schema: avro.schema.RecordSchema
    canonical: str
    fingerprint: bytes
    path: Path
    parsed: dict[str, Any]


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
    written: SchemaEntry
    writer: str

    @property
    def resolves(self) -> bool:
        """Whether the record was written with another version than the current one."""
        return self.written is not self.current


@dataclass(frozen=True)
class _Writing:
    """How to write records of one schema: what fastavro writes with, and what it leaves out."""

    entry: SchemaEntry
    check: Check | None


class Codec:
    """Encodes and decodes the contract's records; built once per process from the schema files.

    ``schema_dir`` holds the current schemas (the ones records are written with) and, under
    ``released/<Name>/v<N>.avsc``, every released version, whose records it reads too.
    """

    def __init__(self, schema_dir: Path = SCHEMA_DIR) -> None:
        entries = [_load(path) for path in sorted(schema_dir.glob("*.avsc"))]
        self._by_name = {entry.name: entry for entry in entries}
        self._by_short_name = {entry.name.rpartition(".")[2]: entry for entry in entries}
        self._writing: dict[str, _Writing] = {}
        for entry in entries:
            writing = _Writing(entry, compile_check(entry.schema))
            self._writing[entry.name] = self._writing[entry.name.rpartition(".")[2]] = writing
        self._released = _load_released(schema_dir / RELEASED)
        self._by_fingerprint: dict[bytes, _Reading] = {
            e.fingerprint: _Reading(e, e, "the current schema") for e in entries
        }
        for name, versions in self._released.items():
            current = self._by_name.get(name)
            if current is None:
                continue  # a removed schema: nothing to read it into (the policy forbids it)
            for released in versions:
                self._by_fingerprint.setdefault(
                    released.entry.fingerprint,
                    _Reading(current, released.entry, f"released version {released.version}"),
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
        writing = self._writing.get(name)
        if writing is None:
            writing = self._writing[self.entry(name).name]
        entry = writing.entry
        buffer = io.BytesIO()
        buffer.write(MARKER + entry.fingerprint)
        try:
            if writing.check is not None:
                writing.check(datum, entry.name)
            fastavro.schemaless_writer(buffer, entry.parsed, datum, disable_tuple_notation=True)
        except _ENCODE_ERRORS as exc:
            detail = f"{entry.name}: {first_line(exc)}"
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
        body = io.BytesIO(data)
        body.seek(HEADER_SIZE)
        try:
            datum = fastavro.schemaless_reader(
                body, reading.written.parsed, reading.current.parsed if reading.resolves else None
            )
        except _DECODE_ERRORS as exc:
            raise self._explain(reading, data, exc) from exc
        leftover = len(data) - body.tell()
        if leftover:
            raise CodecError(
                CodecProblem.CORRUPT, f"{name} record has {leftover} bytes after its last field"
            )
        if not isinstance(datum, dict):
            raise CodecError(CodecProblem.CORRUPT, f"{name} did not decode to a record")
        return Decoded(name, datum)

    def _explain(self, reading: _Reading, data: bytes, exc: Exception) -> CodecError:
        reader = ResolvingReader(reading.written.schema, reading.current.schema)
        return explain(reading.current.name, reading.writer, reader, data[HEADER_SIZE:], exc)

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
        fast = fastavro.parse_schema(json.loads(text))
    except (OSError, ValueError, avro.errors.AvroException) as exc:
        raise CodecError(CodecProblem.UNKNOWN_SCHEMA, f"{path}: {first_line(exc)}") from exc
    if not isinstance(parsed, avro.schema.RecordSchema) or not isinstance(fast, dict):
        raise CodecError(CodecProblem.UNKNOWN_SCHEMA, f"{path} is not a record schema")
    return SchemaEntry(parsed.fullname, parsed, canonical, fingerprint(canonical), path, fast)


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
