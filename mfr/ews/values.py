"""EWS element text read as exchangelib reads it, for the services that parse answers with lxml.

The extractor's GetItem reading (``extractor/itemxml.py``) and the listener's notification reading
(``listener/notificationxml.py``) skip exchangelib's object model for speed; what a value means
must stay what exchangelib made of it, so both read scalars here. Where exchangelib would log a
warning and keep None (text that does not parse), so do these.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from exchangelib.util import TNS

_T = f"{{{TNS}}}"


def type_children(elem: Any) -> Iterator[tuple[str, Any]]:
    """``(local name, element)`` of each child in types.xsd's namespace; comments, processing
    instructions and elements of other namespaces (a later schema's, an extension's) are passed
    over, as exchangelib passes over what it does not know."""
    for child in elem:
        tag = child.tag
        if isinstance(tag, str) and tag.startswith(_T):
            yield tag[len(_T):], child


def read_datetime(text: str) -> datetime | None:
    """An xs:dateTime as a UTC datetime to the millisecond (what Avro keeps); a time without a
    zone is UTC (the requests' TimeZoneContext, and exchangelib's default without an account);
    None if it does not parse."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def read_int(text: str) -> int | None:
    """An xs:int; None if it does not parse."""
    try:
        return int(text)
    except ValueError:
        return None
