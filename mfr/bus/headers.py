"""The headers every record carries, so a consumer can route a record without decoding it.

Why in the bus and not at each call site: the promise is that *every* record on *every* topic says
what it is, and a promise kept by a dozen producers is one forgotten call away from broken. Both
backends call :func:`record_headers` in ``produce``, so nothing written through ``mfr.bus`` lacks
them. What a record is follows from its own bytes: a single-object encoded value starts with
``C3 01`` and the fingerprint of its writer schema, and the fingerprint names the schema (current
or released). A value that is not single-object encoded (only tests write such) gets none.

Headers (values are UTF-8):

* ``content-type``: ``application/vnd.apache.avro+binary; encoding=single-object``
* ``mfr.schema``: the writer schema's full name, e.g. ``mfr.replication.MessageState`` (absent if
  the fingerprint is no schema of this release)
* ``mfr.schema.fingerprint``: the 8 fingerprint bytes exactly as they follow ``C3 01`` in the
  value, in lower-case hex (CRC-64-AVRO of the canonical form, little-endian)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from mfr.canonical import canonical_form, fingerprint
from schemas import SCHEMA_DIR

CONTENT_TYPE = "content-type"
SCHEMA = "mfr.schema"
FINGERPRINT = "mfr.schema.fingerprint"
SINGLE_OBJECT = b"application/vnd.apache.avro+binary; encoding=single-object"
_MARKER = b"\xc3\x01"
_HEADER_SIZE = len(_MARKER) + 8


@cache
def _schema_names(schema_dir: Path = SCHEMA_DIR) -> dict[bytes, str]:
    """Fingerprint -> full name of every current and released schema (read once per process)."""
    names: dict[bytes, str] = {}
    for path in sorted(schema_dir.glob("*.avsc")) + sorted(schema_dir.glob("released/*/*.avsc")):
        parsed = json.loads(path.read_text(encoding="utf-8"))
        name = parsed["name"]
        full = name if "." in name else f"{parsed['namespace']}.{name}"
        names[fingerprint(canonical_form(parsed))] = full
    return names


def record_headers(value: bytes, given: Mapping[str, bytes] | None = None) -> dict[str, bytes]:
    """``given`` plus the headers that describe ``value``; ours win, since they are derived from
    the bytes themselves and a caller's stale copy (say, of a re-produced record) would lie."""
    headers = dict(given or {})
    if len(value) < _HEADER_SIZE or value[:2] != _MARKER:
        return headers
    fp = bytes(value[2:_HEADER_SIZE])
    headers[CONTENT_TYPE] = SINGLE_OBJECT
    headers[FINGERPRINT] = fp.hex().encode()
    name = _schema_names().get(fp)
    if name is not None:
        headers[SCHEMA] = name.encode()
    else:
        headers.pop(SCHEMA, None)
    return headers
