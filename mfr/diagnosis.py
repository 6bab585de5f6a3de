"""Saying precisely why a record body could not be read, with the ``avro`` package.

The codec reads with fastavro, which is several times faster but reports a broken body as
whatever Python error its reader met first (``EOFError``, ``IndexError``, ...). A body that fails
is rare and is read once more here by the ``avro`` package's reader, whose errors tell a truncated
body from a corrupt one and name what did not resolve; the result is the one
:class:`~mfr.errors.CodecError` callers get. Nothing on the common path runs through here.

The ``avro`` package resolves enums against the specification: it raises when the writer's symbol
is missing from the reader's enum instead of taking the reader's default, and answers the writer's
default for an index past the writer's symbols, which is corruption. :class:`ResolvingReader`
reads enums as the specification says and leaves the rest of the package's resolution alone.
"""

from __future__ import annotations

import io
import struct

import avro.errors
import avro.io
import avro.schema

from mfr.errors import CodecError, CodecProblem

_READ_ERRORS = (
    avro.errors.AvroException,
    struct.error,
    IndexError,
    KeyError,
    ValueError,
    OverflowError,
    UnicodeDecodeError,
)


class _UnresolvableError(avro.errors.AvroException):
    """The writer's data has no place in the reader's schema."""


class ResolvingReader(avro.io.DatumReader):
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


def explain(
    name: str, writer: str, reader: ResolvingReader, body: bytes, failure: Exception
) -> CodecError:
    """Why the record ``name`` (written with ``writer``, a phrase) whose ``body`` fastavro could
    not read with ``failure`` is unreadable."""
    stream = io.BytesIO(body)
    try:
        reader.read(avro.io.BinaryDecoder(stream))
    except _READ_ERRORS as exc:
        return _error(name, writer, exc, len(body), consumed=stream.tell() >= len(body))
    # The reference reader took it: fastavro's own error is the best account there is.
    return CodecError(CodecProblem.CORRUPT, f"{name} body cannot be read: {first_line(failure)}")


def _error(name: str, writer: str, exc: Exception, size: int, *, consumed: bool) -> CodecError:
    short = consumed or "remain" in str(exc)
    if isinstance(exc, avro.errors.InvalidAvroBinaryEncoding) and short:
        return CodecError(
            CodecProblem.TRUNCATED,
            f"{name} body ends after {size} bytes, before its last field ({first_line(exc)})",
        )
    if isinstance(exc, (avro.errors.SchemaResolutionException, _UnresolvableError)):
        return CodecError(
            CodecProblem.CORRUPT,
            f"{name} written with {writer} cannot be read into the current schema: "
            f"{first_line(exc)}",
        )
    return CodecError(CodecProblem.CORRUPT, f"{name} body cannot be read: {first_line(exc)}")


def first_line(exc: Exception) -> str:
    """The first line of an exception's message, or its type's name."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
