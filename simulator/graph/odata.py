"""OData query options as the Graph face understands them, and the links that page through a
collection.

Graph answers a query option it does not support with a 400, never by ignoring it, so each
endpoint names the system options it accepts and anything else starting with ``$`` is refused.
Custom options (no ``$``) are the endpoint's business (``includeHiddenFolders``, ``changeType``);
others are ignored, as OData says of custom options a service does not know.

- ``$select``: a comma list of the type's structural properties (matched case-insensitively,
  answered in the CSDL's spelling); an unknown name is Graph's 400 ``RequestBroker--ParseUri``
  "Could not find a property named ...". ``id`` is always returned (message-delta.md).
- ``$top``/``$skip``: numbers; ``$top`` above the face's ``max_page_size`` is capped, as Outlook
  pages at most 1,000 objects.
- ``$expand``: only ``singleValueExtendedProperties($filter=id eq '...' or id eq '...')``
  (singlevaluelegacyextendedproperty-get.md: "the only way to get" one). Without a ``$filter`` it
  is refused: extended-properties-overview.md says no call gets all of an object's extended
  properties. Ids are parsed per extended-properties-overview.md ("{type} {proptag}", or a named
  property with a GUID); the type is matched case-insensitively and the tag as a number, so
  ``'integer 0x0036'``, ``'Integer 0x36'`` and the long proptag form ``'Integer 0x00360003'``
  name the same property. A malformed id is Exchange's 400 ``ErrorInvalidExtendedProperty``.
- ``$filter``: a conjunction of ``property op literal`` comparisons over the properties an
  endpoint allows (``and`` only; ``eq ne gt ge lt le``; literals: ISO dates, quoted strings,
  true/false, numbers). Endpoints decide which fields and operators they take.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from simulator.graph.errors import GraphError, bad_request

# Single-value MAPI property types of extended-property ids (EWS's MapiPropertyType names).
MAPI_TYPES = {
    name.lower(): name
    for name in (
        "ApplicationTime", "Binary", "Boolean", "CLSID", "Currency", "Double", "Error", "Float",
        "Integer", "Long", "Null", "Object", "Short", "SystemTime", "String",
    )
}  # fmt: skip
_GUID = r"\{?[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\}?"
_PROPTAG_ID = re.compile(r"\s*(\w+)\s+0x([0-9a-fA-F]{1,8})\s*")
_NAMED_ID = re.compile(rf"\s*(\w+)\s+({_GUID})\s+(Name|Id)\s+(.+?)\s*", re.IGNORECASE)
_EXPAND = re.compile(r"\s*singleValueExtendedProperties\s*\((.*)\)\s*", re.IGNORECASE | re.DOTALL)
_EXPAND_FILTER = re.compile(r"\s*\$filter\s*=(.*)", re.IGNORECASE | re.DOTALL)
_ID_EQ = re.compile(r"\s*id\s+eq\s+'((?:[^']|'')*)'\s*", re.IGNORECASE)
_COMPARISON = re.compile(
    r"\s*([A-Za-z][A-Za-z0-9]*)\s+(eq|ne|gt|ge|lt|le)\s+('(?:[^']|'')*'|[^\s']+)\s*", re.IGNORECASE
)
_ISO = re.compile(r"\d{4}-\d\d-\d\d(T\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?)?")


_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}


@dataclass(frozen=True, slots=True)
class ExtendedId:
    """An extended property's id: its MAPI type and property id (proptag form), or a named
    property (``tag`` None), with the canonical spelling the face answers with."""

    type_name: str
    tag: int | None
    spelled: str


@dataclass(frozen=True, slots=True)
class Comparison:
    """One ``property op literal`` term of a ``$filter``."""

    field: str
    op: str
    value: Any

    def holds(self, actual: Any) -> bool:
        """Whether ``actual`` (the object's value of ``field``) satisfies this term."""
        if actual is None:
            return self.op == "ne"
        try:
            return bool(_OPERATORS[self.op](actual, self.value))
        except TypeError:
            return False


@dataclass(frozen=True, slots=True)
class Query:
    """The query options of one request, validated (``$filter`` is parsed by each endpoint
    with ``parse_filter``, as each allows other properties)."""

    select: tuple[str, ...] | None = None
    top: int | None = None
    skip: int = 0
    expand: tuple[ExtendedId, ...] | None = None
    orderby: str | None = None


def options(query: Mapping[str, str]) -> dict[str, str]:
    """The system query options (``$`` names lower-cased) of a request's query."""
    return {k.lower(): v for k, v in query.items() if k.startswith("$")}


def parse(
    query: Mapping[str, str],
    *,
    allowed: Iterable[str],
    properties: Iterable[str],
    type_name: str,
    max_top: int,
) -> Query:
    """Validate a request's system query options against what an endpoint ``allowed``
    (``$select``, ``$top``...); ``properties`` are the type's selectable properties."""
    given = options(query)
    permitted = set(allowed)
    for name in given:
        if name not in permitted:
            raise GraphError(
                400, "ErrorInvalidUrlQuery", f"The query parameter '{name}' is not supported."
            )
    select = None
    if "$select" in given:
        select = parse_select(given["$select"], properties, type_name)
    return Query(
        select=select,
        top=_number(given, "$top", minimum=0, cap=max_top),
        skip=_number(given, "$skip", minimum=0) or 0,
        expand=parse_expand(given["$expand"]) if "$expand" in given else None,
        orderby=given.get("$orderby"),
    )


def parse_select(text: str, properties: Iterable[str], type_name: str) -> tuple[str, ...]:
    """``$select``'s names in the CSDL's spelling; 400 for a name the type lacks."""
    by_lower = {p.lower(): p for p in properties}
    chosen: list[str] = []
    for raw in text.split(","):
        name = raw.strip()
        if not name:
            continue
        found = by_lower.get(name.lower())
        if found is None:
            raise GraphError(
                400,
                "RequestBroker--ParseUri",
                f"Could not find a property named '{name}' on type '{type_name}'.",
            )
        if found not in chosen:
            chosen.append(found)
    return tuple(chosen)


def _number(
    given: Mapping[str, str], name: str, *, minimum: int, cap: int | None = None
) -> int | None:
    raw = given.get(name)
    if raw is None:
        return None
    if not raw.strip().isdigit() or int(raw) < minimum:
        raise bad_request(f"Invalid value '{raw}' for query option '{name}'.")
    value = int(raw)
    return min(value, cap) if cap is not None else value


def parse_extended_id(text: str) -> ExtendedId:
    """An extended property id in one of extended-properties-overview.md's formats."""
    match = _PROPTAG_ID.fullmatch(text)
    if match and match.group(1).lower() in MAPI_TYPES:
        type_name = MAPI_TYPES[match.group(1).lower()]
        tag = int(match.group(2), 16)
        if tag > 0xFFFF:
            tag >>= 16  # a full property tag: the id is its upper half
        return ExtendedId(type_name, tag, f"{type_name} 0x{tag:x}")
    named = _NAMED_ID.fullmatch(text)
    if named and named.group(1).lower() in MAPI_TYPES:
        type_name = MAPI_TYPES[named.group(1).lower()]
        guid = named.group(2).strip("{}").lower()
        kind = named.group(3).capitalize()
        return ExtendedId(type_name, None, f"{type_name} {{{guid}}} {kind} {named.group(4)}")
    raise GraphError(
        400,
        "ErrorInvalidExtendedProperty",
        "The extended property attribute combination is invalid.",
    )


def parse_expand(text: str) -> tuple[ExtendedId, ...]:
    """The extended property ids an ``$expand=singleValueExtendedProperties($filter=...)``
    asks for."""
    match = _EXPAND.fullmatch(text)
    if match is None:
        raise bad_request(
            "The simulator expands only singleValueExtendedProperties with a $filter, "
            f"not '{text}'."
        )
    inner = _EXPAND_FILTER.fullmatch(match.group(1))
    if inner is None:
        raise bad_request(
            "singleValueExtendedProperties can only be expanded with a $filter on id "
            "(extended properties are never listed all at once)."
        )
    ids: list[ExtendedId] = []
    for term in _split_outside_quotes(inner.group(1), "or"):
        found = _ID_EQ.fullmatch(term)
        if found is None:
            raise bad_request(
                f"Only id eq '...' terms joined by or may filter the expansion: '{term}'."
            )
        ids.append(parse_extended_id(found.group(1).replace("''", "'")))
    return tuple(ids)


def parse_filter(
    text: str, fields: Mapping[str, tuple[str, frozenset[str]]]
) -> tuple[Comparison, ...]:
    """A ``$filter`` of comparisons joined by ``and``. ``fields`` maps each property an endpoint
    allows (lower-cased) to its CSDL spelling and the operators it takes; anything else is 400."""
    terms: list[Comparison] = []
    for term in _split_outside_quotes(text, "and"):
        match = _COMPARISON.fullmatch(term)
        if match is None:
            raise _unsupported_filter(text)
        name, op, literal = match.group(1), match.group(2).lower(), match.group(3)
        spec = fields.get(name.lower())
        if spec is None or op not in spec[1]:
            raise _unsupported_filter(text)
        terms.append(Comparison(spec[0], op, _literal(literal, text)))
    return tuple(terms)


def _unsupported_filter(text: str) -> GraphError:
    return GraphError(
        400, "ErrorInvalidUrlQueryFilter", f"The query filter '{text}' is not supported."
    )


def _literal(raw: str, text: str) -> Any:
    if raw.startswith("'"):
        return raw[1:-1].replace("''", "'")
    lowered = raw.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if _ISO.fullmatch(raw):
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        return int(raw)
    except ValueError:
        raise _unsupported_filter(text) from None


def _split_outside_quotes(text: str, word: str) -> list[str]:
    """Split on `` word `` (case-insensitive) where it is not inside a quoted literal."""
    parts: list[str] = []
    pattern = re.compile(rf"\s+{word}\s+", re.IGNORECASE)
    start = scan = 0
    quoted = False
    while scan < len(text):
        char = text[scan]
        if char == "'":
            quoted = not quoted
        elif not quoted:
            match = pattern.match(text, scan)
            if match and scan > start:
                parts.append(text[start:scan])
                start = scan = match.end()
                continue
        scan += 1
    parts.append(text[start:])
    return [p for p in (part.strip() for part in parts) if p]


def link(base_url: str, path: str, params: Mapping[str, str]) -> str:
    """An absolute link to ``path`` under the version root with these query parameters (``$``
    kept literal, as Graph's own links show it)."""
    url = base_url + quote(path, safe="/@=:$'(),;!*+~")
    if params:
        url += "?" + urlencode(dict(params), quote_via=quote, safe="$',()")
    return url


def context(base_url: str, fragment: str, select: Iterable[str] | None = None) -> str:
    """An ``@odata.context`` URL: ``{root}/$metadata#{fragment}``, with a select list after the
    fragment's last collection segment when the request had ``$select``."""
    if select:
        entity = fragment.endswith("/$entity")
        head = fragment.removesuffix("/$entity")
        fragment = f"{head}({','.join(select)})" + ("/$entity" if entity else "")
    return f"{base_url}/$metadata#{fragment}"
