"""The checks a datum must pass before fastavro writes it, where fastavro alone is lenient.

fastavro's writer refuses most values that do not fit (a string for a long, an unknown enum
symbol, a missing required field) but writes some silently, where the ``avro`` package, which the
codec used before, refused them: a string where an array belongs (written as its characters), a
naive datetime for a timestamp (taken as the machine's local time, so the instant depends on
where the record was written) and an integer for a timestamp. A record written like that is
valid Avro of the wrong meaning, and no reader could tell. So before writing, the codec runs a
check compiled once per schema that looks only at the places where those values can occur:
arrays, maps and ``timestamp-millis`` fields, directly or inside a union or a nested record.
Everything else stays fastavro's job, so the common record costs a few dictionary lookups.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import avro.schema

Check = Callable[[Any, str], None]


class MisfitError(ValueError):
    """A value fastavro would write with a meaning the schema does not give it."""


def compile_check(schema: avro.schema.RecordSchema) -> Check | None:
    """The check of datums of ``schema``, or None when fastavro's own checks are enough."""
    return _compile(schema, set())


def _compile(schema: avro.schema.Schema, seen: set[str]) -> Check | None:
    if isinstance(schema, avro.schema.TimestampMillisSchema):
        return _check_timestamp
    if isinstance(schema, avro.schema.ArraySchema):
        return _sequence_check(_compile(schema.items, seen))
    if isinstance(schema, avro.schema.MapSchema):
        return _mapping_check(_compile(schema.values, seen))
    if isinstance(schema, avro.schema.UnionSchema):
        return _union_check(schema, seen)
    if isinstance(schema, avro.schema.RecordSchema) and schema.fullname not in seen:
        # (a record already in ``seen`` is a recursive reference, checked where it began)
        fields = [(f.name, _compile(f.type, seen | {schema.fullname})) for f in schema.fields]
        return _record_check([(name, check) for name, check in fields if check is not None])
    return None


def _check_timestamp(value: Any, where: str) -> None:
    if not isinstance(value, datetime):
        raise MisfitError(f"{where}: a timestamp must be a datetime, not {type(value).__name__}")
    if value.utcoffset() is None:
        raise MisfitError(f"{where}: a timestamp needs a time zone (naive datetime)")


def _sequence_check(items: Check | None) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, (list, tuple)):
            raise MisfitError(f"{where}: an array must be a list, not {type(value).__name__}")
        if items is not None:
            for index, item in enumerate(value):
                if item is not None:
                    items(item, f"{where}[{index}]")

    return check


def _mapping_check(values: Check | None) -> Check:
    def check(value: Any, where: str) -> None:
        if not isinstance(value, Mapping):
            raise MisfitError(f"{where}: a map must be a mapping, not {type(value).__name__}")
        if values is not None:
            for key, item in value.items():
                if item is not None:
                    values(item, f"{where}[{key!r}]")

    return check


def _record_check(fields: list[tuple[str, Check]]) -> Check | None:
    if not fields:
        return None

    def check(value: Any, where: str) -> None:
        if not isinstance(value, Mapping):
            return  # fastavro refuses a record that is not a mapping itself
        for name, field_check in fields:
            item = value.get(name)
            if item is not None:  # missing: the field's default; None: fastavro's to judge
                field_check(item, f"{where}.{name}")

    return check


def _union_check(schema: avro.schema.UnionSchema, seen: set[str]) -> Check | None:
    """An optional value (``["null", T]``) is checked as a ``T``; any other union (none in the
    contract) is left to fastavro's branch matching, which is exact for what it can tell apart."""
    branches = [branch for branch in schema.schemas if branch.type != "null"]
    return _compile(branches[0], seen) if len(branches) == 1 else None
