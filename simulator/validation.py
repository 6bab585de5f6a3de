"""Checking requests and responses against Microsoft's messages.xsd.

Exchange validates every request against its schema before acting and answers an invalid one with
a SOAP fault ``ErrorSchemaValidation`` whose MessageXml says where (LineNumber, LinePosition) and
what (Violation). A simulator that accepts what Exchange refuses lets a client bug pass every test
and fail in production (issue 17), so requests are checked by default, with no allowance for any
client's quirks. Responses are checked too (``validate_responses``) so the simulator never teaches
a client to accept what Exchange would not send.

libxml2 reports the line of the offending element but no column, and exchangelib writes a request
on one or two lines, so a line alone does not say where. Before validating, each element of a copy
is given its document-order index as its line number; the index found in the error then names the
element, and the element's start tag is located in the request's text.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

from lxml import etree

from simulator.errors import SimulatorError

T_NS = "http://schemas.microsoft.com/exchange/services/2006/types"
# libxml2 keeps an element's line in 16 bits: a larger index is clamped, and the position is then
# only approximate (no real request has that many elements before its first error).
_MAX_INDEX = 65534
# Markup whose '<' does not open an element; blanked (same length) before counting start tags.
_NOT_ELEMENTS = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>|<\?.*?\?>", re.DOTALL)
_START_TAG = re.compile(rb"<[^/!?]")
_MAX_TEXT = 400  # an enumeration's violation lists every allowed value


@dataclass(frozen=True, slots=True)
class Violation:
    """Where a request breaks the schema (1-based line and position of the element's name) and
    how, in libxml2's words."""

    line: int
    position: int
    text: str


@cache
def _schema(path: Path) -> tuple[etree.XMLSchema, threading.Lock]:
    """messages.xsd, loaded once per process (it takes a third of a second) with its own lock:
    one lxml schema object must not validate on two threads at once."""
    if not path.is_file():
        raise SimulatorError(
            f"no messages.xsd at {path}: set the simulator's schema_dir to the folder of "
            "Microsoft's EWS schema (messages.xsd, types.xsd)"
        )
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(path), parser)), threading.Lock()


class ResponseValidator:
    """Validates the element inside a response's SOAP Body against messages.xsd; remembers every
    failure so a test can assert there were none."""

    def __init__(self, schema_dir: Path) -> None:
        self._schema, self._lock = _schema(schema_dir / "messages.xsd")
        self.failures: list[str] = []

    def check(self, element: etree._Element) -> str | None:
        """None when ``element`` is valid, else the first error (also recorded in ``failures``)."""
        detached = copy.deepcopy(element)
        with self._lock:
            if self._schema.validate(detached):
                return None
            lines = str(self._schema.error_log).splitlines()
            where = lines[0] if lines else "invalid"
            text = f"{etree.QName(element).localname}: {where}"
            self.failures.append(text)
            return text


class RequestValidator:
    """Validates a request's operation (and the header elements the EWS types schema declares)
    against messages.xsd, and says where the first violation is in the request's text."""

    def __init__(self, schema_dir: Path) -> None:
        self._schema, self._lock = _schema(schema_dir / "messages.xsd")

    def check(self, raw: bytes, root: etree._Element) -> Violation | None:
        """None when valid; else the first violation. ``root`` is the envelope parsed from
        ``raw``."""
        elements = list(root.iter(tag=etree.Element))  # held: lxml proxies stay the same objects
        for part in _parts(root):
            text, index = self._validate(part)
            if text is not None:
                line, position = _locate(raw, elements.index(part) + index)
                return Violation(line, position, text)
        return None

    def _validate(self, element: etree._Element) -> tuple[str | None, int]:
        """(None, 0) when valid; else libxml2's message and the offending element's index in
        ``element``'s subtree (document order)."""
        marked = copy.deepcopy(element)
        for index, node in enumerate(marked.iter(tag=etree.Element)):
            # lxml lets a line be set; its stubs type the attribute read-only.
            node.sourceline = min(index, _MAX_INDEX) + 1  # type: ignore[assignment]
        with self._lock:
            if self._schema.validate(marked):
                return None, 0
            # lxml's stubs leave the log's type empty; it is a sequence of _LogEntry.
            first = next(iter(cast(Iterable[Any], self._schema.error_log)), None)
        if first is None:
            return "The request is invalid.", 0
        text = first.message
        if len(text) > _MAX_TEXT:
            text = text[:_MAX_TEXT] + "..."
        return text, max(0, first.line - 1)


def _parts(root: etree._Element) -> list[etree._Element]:
    """What is validated: header elements of the EWS types namespace, then the operation."""
    parts: list[etree._Element] = []
    for section in root:
        if not isinstance(section.tag, str):
            continue
        if etree.QName(section).localname == "Header":
            parts += [
                e for e in section if isinstance(e.tag, str) and etree.QName(e).namespace == T_NS
            ]
        elif etree.QName(section).localname == "Body":
            parts += [e for e in section if isinstance(e.tag, str)]
    return parts


def _locate(raw: bytes, index: int) -> tuple[int, int]:
    """1-based line and position of the name in the ``index``-th start tag of ``raw``."""
    text = _NOT_ELEMENTS.sub(lambda found: b" " * len(found.group()), raw)
    for number, found in enumerate(_START_TAG.finditer(text)):
        if number == index:
            offset = found.start() + 1
            line_start = text.rfind(b"\n", 0, offset) + 1
            column = len(raw[line_start:offset].decode("utf-8", "replace")) + 1
            return text.count(b"\n", 0, offset) + 1, column
    return 1, 1
