"""Helpers every operation uses: per-message error handling and reading common request parts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from lxml import etree

from simulator.errors import EwsError
from simulator.soap import error_message, m, sub, success_message, text_of

T = TypeVar("T")


def each(
    container: etree._Element,
    operation: str,
    requests: Iterable[T],
    answer: Callable[[etree._Element, T], None],
    required_container: str | None = None,
) -> None:
    """One response message per request element; an EwsError becomes that message's error."""
    for request in requests:
        try:
            # Build into a detached element first so a failure leaves no half-written message.
            scratch = etree.Element("scratch")
            message = success_message(scratch, operation)
            answer(message, request)
            container.append(message)
        except EwsError as error:
            if error.fault:
                raise
            message = error_message(container, operation, error)
            if required_container is not None:
                # The schema requires it even in an error message (GetItem's m:Items).
                sub(message, m(required_container))


def bounded_int(element: etree._Element, name: str, default: int, low: int, high: int) -> int:
    """An integer child element within [low, high], else ErrorInvalidArgument-like schema error."""
    raw = text_of(element, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise EwsError("ErrorSchemaValidation", f"{name} must be an integer", fault=True) from exc
    if not low <= value <= high:
        raise EwsError(
            "ErrorSchemaValidation", f"{name} must be between {low} and {high}", fault=True
        )
    return value


def required(element: etree._Element | None, what: str) -> etree._Element:
    """A required request element, or a schema-validation fault."""
    if element is None:
        raise EwsError("ErrorSchemaValidation", f"The request is missing {what}.", fault=True)
    return element


def _attr_int(view: etree._Element, name: str, default: int) -> int:
    raw = view.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise EwsError("ErrorSchemaValidation", f"{name} must be an integer", fault=True) from exc
    if value < 0:
        raise EwsError("ErrorSchemaValidation", f"{name} must not be negative", fault=True)
    return value


def page_bounds(view: etree._Element | None, total: int) -> tuple[int, int]:
    """[start, stop) of the page an IndexedPage*View asks for (everything without a view)."""
    if view is None:
        return 0, total
    offset = _attr_int(view, "Offset", 0)
    limit = _attr_int(view, "MaxEntriesReturned", total)
    if view.get("BasePoint", "Beginning") == "End":
        stop = max(0, total - offset)
        return max(0, stop - limit), stop
    start = min(offset, total)
    return start, min(total, start + limit)


def paged_root(message: etree._Element, start: int, stop: int, total: int) -> etree._Element:
    """The RootFolder element of a paged Find* response."""
    return sub(
        message,
        m("RootFolder"),
        IndexedPagingOffset=str(stop),
        TotalItemsInView=str(total),
        IncludesLastItemInRange="true" if stop >= total else "false",
    )
