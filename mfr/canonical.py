"""Avro's Parsing Canonical Form and its CRC-64-AVRO fingerprint, exactly as the specification says.

We do not use ``avro.schema.Schema.fingerprint``: the ``avro`` package keeps ``{"type": "long"}``
for a primitive that carried a ``logicalType``, where the specification (and the Java and fastavro
implementations) reduce it to ``"long"``, so its fingerprints of schemas with timestamps differ from
everyone else's and other readers could not find our schemas.
"""

from __future__ import annotations

import json
from typing import Any

PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED = frozenset({"record", "enum", "fixed"})
KEPT = ("name", "type", "fields", "symbols", "items", "values", "size")

_EMPTY = 0xC15D213AA4D7A795


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    return tuple(table)


_TABLE = _crc_table()


def crc64_avro(data: bytes) -> int:
    """The 64-bit Rabin fingerprint the Avro specification calls CRC-64-AVRO."""
    fp = _EMPTY
    for byte in data:
        fp = (fp >> 8) ^ _TABLE[(fp ^ byte) & 0xFF]
    return fp


def fingerprint(canonical: str) -> bytes:
    """The 8 bytes single-object encoding puts after its marker: CRC-64-AVRO, little-endian."""
    return crc64_avro(canonical.encode("utf-8")).to_bytes(8, "little")


def canonical_form(schema: Any) -> str:
    """The Parsing Canonical Form of a schema given as parsed JSON (dict, list or str)."""
    return _form(schema, namespace=None, seen=set())


def _fullname(name: str, namespace: str | None) -> str:
    if "." in name or not namespace:
        return name
    return f"{namespace}.{name}"


def _form(schema: Any, namespace: str | None, seen: set[str]) -> str:
    if isinstance(schema, str):
        return _quote(schema if schema in PRIMITIVES else _fullname(schema, namespace))
    if isinstance(schema, list):
        return "[" + ",".join(_form(branch, namespace, seen) for branch in schema) + "]"
    kind = schema["type"]
    if kind not in NAMED and kind not in ("array", "map"):
        return _form(kind, namespace, seen)  # [PRIMITIVES]: {"type": "long", ...} is "long"
    if kind in NAMED:
        namespace = schema.get("namespace", namespace)
        name = _fullname(schema["name"], namespace)
        namespace = name.rpartition(".")[0] or None
        if name in seen:
            return _quote(name)
        seen.add(name)
        schema = {**schema, "name": name}
    parts = []
    for key in KEPT:
        if key not in schema:
            continue
        parts.append(f"{_quote(key)}:{_value(key, schema[key], namespace, seen)}")
    return "{" + ",".join(parts) + "}"


def _value(key: str, value: Any, namespace: str | None, seen: set[str]) -> str:
    if key in ("items", "values"):
        return _form(value, namespace, seen)
    if key == "type":
        return _quote(value) if isinstance(value, str) else _form(value, namespace, seen)
    if key == "fields":
        fields = (
            "{" + f'"name":{_quote(f["name"])},"type":{_form(f["type"], namespace, seen)}' + "}"
            for f in value
        )
        return "[" + ",".join(fields) + "]"
    if key == "symbols":
        return "[" + ",".join(_quote(s) for s in value) + "]"
    if key == "size":
        return str(int(value))
    return _quote(value)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)
