"""Checks JSON bodies from the Graph face against Microsoft's Graph v1.0 metadata (CSDL).

Issue 11 asks that every JSON body a test receives is checked against ``v1.0-Prod.csdl``: each
property must exist in its entity or complex type (following ``BaseType`` up to ``entity``) and
have its JSON type (OData JSON Format 4.01 §7: Edm.String, Guid, DateTimeOffset, Binary and enum
members as strings, Int/Double as numbers, Boolean as true/false, complex values as objects,
collections as arrays). Decisions, and the page each comes from:

- The type comes from ``@odata.context`` (``#users('x')/mailFolders``, ``#Collection(message)``,
  ``#subscriptions/$entity``...; resolved in ``metadata.py``); ``@odata.type`` on an object casts
  it to that type or one derived from it. Collections are the body's ``value``.
- ``message`` and ``resourceData`` are open types in the CSDL, but "a test fails on any property
  the metadata lacks" (issue 11), so openness is ignored: only the documented dynamic properties
  of resourceData for Outlook (``id``; resourcedata.md) are accepted. Inside resourceData
  ``@odata.type`` names the resource it describes, not the object's own type, so it casts nothing.
- ``Nullable="false"`` forbids null; on a collection it concerns the items, and the collection
  itself is never null (CSDL 4.01 §7.2.1).
- The CSDL prose of some pages disagrees with the metadata (message-delta samples with
  ``"isRead": "true"``): the INDEX says the CSDL takes precedence, so the CSDL is followed.
- Bodies without a context: Graph's error object (errors.md: code and message strings, optional
  innerError/details/target; ``odata.error`` is not in the CSDL), the ``$batch`` envelope
  (json-batching.md; each inner JSON body is checked on its own), and bodies checked with an
  explicit type, as webhook receivers do (``microsoft.graph.changeNotificationCollection``).
  Answers of the token authority and of the simulator's control API are not Graph; they are
  recognised by shape and neither checked nor counted. Anything else fails, so nothing slips by.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.simulator.graph.metadata import CsdlError, Model, TypeRef, context_type, model

__all__ = ["CHECKED", "NOT_GRAPH", "CsdlError", "check_body", "check_notifications"]
CHANGE_NOTIFICATIONS = "microsoft.graph.changeNotificationCollection"
CHECKED: Counter[str] = Counter()

_INTEGERS = {"Edm.Byte", "Edm.SByte", "Edm.Int16", "Edm.Int32", "Edm.Int64"}
_DECIMALS = {"Edm.Double", "Edm.Single", "Edm.Decimal"}
_ANY = {"Edm.Untyped", "Edm.PrimitiveType", "Edm.Stream"}
_PATTERNS = {
    "Edm.DateTimeOffset": re.compile(
        r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,12})?)?(Z|[+-]\d\d:\d\d)", re.ASCII
    ),
    "Edm.Date": re.compile(r"\d{4}-\d\d-\d\d", re.ASCII),
    "Edm.TimeOfDay": re.compile(r"\d\d:\d\d(:\d\d(\.\d{1,12})?)?", re.ASCII),
    "Edm.Duration": re.compile(r"-?P(\d+D)?(T(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?", re.ASCII),
    "Edm.Guid": re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", re.ASCII),
}
# Dynamic properties the docs give an open type (resourcedata.md: Outlook's resourceData).
_DYNAMIC = {"microsoft.graph.resourceData": {"id": "Edm.String"}}
_STRING_ANNOTATIONS = {
    "odata.context", "odata.nextlink", "odata.deltalink", "odata.id", "odata.etag",
    "odata.editlink", "odata.readlink", "odata.type",
}  # fmt: skip
_REMOVED_REASONS = {"changed", "deleted"}
_ERROR_KEYS = {"code", "message", "innerError", "innererror", "details", "target"}


class _Check:
    """One body's check: collects every misfit and counts the objects it went through."""

    def __init__(self, graph: Model) -> None:
        self.graph = graph
        self.errors: list[str] = []
        self.counts: Counter[str] = Counter()

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f"{path or '$'}: {message}")

    def value(self, value: Any, ref: TypeRef, path: str) -> None:
        if value is None:
            if ref.collection or not ref.nullable:
                self.fail(path, f"null is not allowed for {_spell(ref)}")
            return
        if ref.collection:
            if not isinstance(value, list):
                self.fail(path, f"expected an array of {ref.name}, got {_kind(value)}")
                return
            item = TypeRef(ref.name, False, ref.nullable)
            for index, element in enumerate(value):
                self.value(element, item, f"{path}[{index}]")
            return
        if ref.name in self.graph.types:
            self.instance(value, ref.name, path)
        elif ref.name in self.graph.enums:
            self.enum(value, ref.name, path)
        else:
            self.primitive(value, ref.name, path)

    def primitive(self, value: Any, edm: str, path: str) -> None:
        ok: bool
        if edm in _ANY:
            ok = True
        elif edm == "Edm.Boolean":
            ok = isinstance(value, bool)
        elif edm in _INTEGERS:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif edm in _DECIMALS:
            ok = (isinstance(value, int | float) and not isinstance(value, bool)) or value in (
                "NaN", "INF", "-INF",
            )  # fmt: skip
        elif edm == "Edm.Binary":
            ok = isinstance(value, str) and _is_base64(value)
        elif edm in _PATTERNS:
            ok = isinstance(value, str) and _PATTERNS[edm].fullmatch(value) is not None
        elif edm == "Edm.String":
            ok = isinstance(value, str)
        elif edm.startswith("Edm.Geo"):
            ok = isinstance(value, dict)
        else:
            self.fail(path, f"unknown type {edm}")
            return
        if not ok:
            self.fail(path, f"{value!r} is not a JSON {edm}")

    def enum(self, value: Any, name: str, path: str) -> None:
        members, flags = self.graph.enums[name]
        if not isinstance(value, str):
            self.fail(path, f"expected a member name of {name}, got {_kind(value)}")
            return
        for part in value.split(",") if flags else [value]:
            if part.strip() not in members:
                self.fail(path, f"{part!r} is not a member of {name} {sorted(members)}")

    def instance(self, obj: Any, name: str, path: str) -> None:
        if not isinstance(obj, dict):
            self.fail(path, f"expected an object of {name}, got {_kind(obj)}")
            return
        describes_other = name in _DYNAMIC
        cast = obj.get("@odata.type")
        if isinstance(cast, str) and not describes_other:
            actual = self.graph.qualify(cast)
            if actual not in self.graph.types:
                self.fail(path, f"@odata.type {cast!r} is not a structured type of the CSDL")
                return
            if not self.graph.derives(actual, name):
                self.fail(path, f"@odata.type {cast!r} does not derive from {name}")
                return
            name = actual
        props = self.graph.properties(name)
        dynamic = _DYNAMIC.get(name, {})
        for key, val in obj.items():
            where = f"{path}.{key}" if path else key
            target, at, annotation = key.partition("@")
            if at:
                if target and target not in props:
                    self.fail(where, f"annotates {target!r}, which {name} does not have")
                self.annotation(annotation, val, where)
            elif key in props:
                self.value(val, props[key], where)
            elif key in dynamic:
                self.primitive(val, dynamic[key], where)
            else:
                self.fail(where, f"{name} has no property {key!r}")
        self.counts[name.rpartition(".")[2]] += 1

    def annotation(self, term: str, value: Any, path: str) -> None:
        lowered = term.lower()
        if lowered in _STRING_ANNOTATIONS:
            if not isinstance(value, str):
                self.fail(path, f"expected a string, got {_kind(value)}")
            elif lowered == "odata.type" and not self.graph.known(self.graph.qualify(value)):
                self.fail(path, f"{value!r} names no type of the CSDL")
        elif lowered == "odata.count":
            if not isinstance(value, int) or isinstance(value, bool):
                self.fail(path, f"expected an integer, got {_kind(value)}")
        elif lowered == "removed":
            # delta-query-overview.md: {"reason": "changed" | "deleted"}
            if not isinstance(value, dict) or value.get("reason") not in _REMOVED_REASONS:
                self.fail(path, f"expected {{'reason': 'changed'|'deleted'}}, got {value!r}")
        elif "." not in term:
            self.fail(path, f"@{term} is not a namespace-qualified annotation")

    def top(self, body: dict[str, Any], ref: TypeRef) -> None:
        """A body of a collection (``value`` + annotations), a primitive, or an instance."""
        primitive = ref.name not in self.graph.types
        if not ref.collection and not primitive:
            self.instance(body, ref.name, "")
            return
        for key, val in body.items():
            if key == "value":
                self.value(val, ref, "value")
            elif key.startswith("@"):
                self.annotation(key[1:], val, key)
            else:
                self.fail(key, f"a {_spell(ref)} body has only value and annotations")
        if "value" not in body:
            self.fail("", f"a {_spell(ref)} body needs a value")


def check_body(body: Any, type_name: str | None = None) -> None:
    """Assert that ``body`` fits the CSDL: every property exists in its entity or complex type
    and has its JSON type. ``type_name`` ("microsoft.graph.message", or a collection of it as
    "Collection(microsoft.graph.message)") is inferred from ``@odata.context`` when None.
    Raises ``CsdlError`` naming every misfit; counts what it checked in ``CHECKED``."""
    graph = model()
    check = _Check(graph)
    if not isinstance(body, dict):
        raise CsdlError(f"a Graph JSON body is an object, got {_kind(body)}")
    if type_name is not None:
        kind = "bodies"
        check.top(body, graph.ref(type_name))
    elif "@odata.context" in body:
        kind = "bodies"
        check.top(body, context_type(graph, body["@odata.context"]))
    elif isinstance(body.get("error"), dict) and set(body) == {"error"}:
        kind = "errors"
        _check_error(check, body["error"])
    elif "responses" in body:
        kind = "batches"
        _check_batch(check, body)
    elif any(recognise(body) for recognise in NOT_GRAPH.values()):
        return
    else:
        raise CsdlError(f"cannot tell which Graph type this body is: {sorted(body)}")
    if check.errors:
        raise CsdlError("body does not fit the v1.0 CSDL:\n  " + "\n  ".join(check.errors))
    CHECKED[kind] += 1
    CHECKED.update(check.counts)


def _check_error(check: _Check, error: dict[str, Any]) -> None:
    for key in ("code", "message"):
        if not isinstance(error.get(key), str):
            check.fail(f"error.{key}", "an error needs a string here (errors.md)")
    for key in set(error) - _ERROR_KEYS:
        check.fail(f"error.{key}", "not a property of Graph's error object (errors.md)")
    inner = error.get("innerError", error.get("innererror"))
    if inner is not None and not isinstance(inner, dict):
        check.fail("error.innerError", f"expected an object, got {_kind(inner)}")


def _check_batch(check: _Check, body: dict[str, Any]) -> None:
    """json-batching.md: ``responses`` of {id, status, headers, body}; inner bodies checked."""
    for key in set(body) - {"responses", "@odata.nextLink"}:
        check.fail(key, "not part of a $batch response")
    responses = body.get("responses")
    if not isinstance(responses, list):
        check.fail("responses", "expected an array")
        return
    for index, answer in enumerate(responses):
        where = f"responses[{index}]"
        if not isinstance(answer, dict) or set(answer) - {"id", "status", "headers", "body"}:
            check.fail(where, f"not a batch response: {answer!r:.200}")
            continue
        if not isinstance(answer.get("id"), str) or not isinstance(answer.get("status"), int):
            check.fail(where, "needs a string id and an integer status")
        headers = answer.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            check.fail(f"{where}.headers", "expected an object of strings")
        inner = answer.get("body")
        if isinstance(inner, dict):
            try:
                check_body(inner)
            except CsdlError as exc:
                check.fail(f"{where}.body", str(exc))
        elif inner is not None and not isinstance(inner, str):
            check.fail(f"{where}.body", f"expected an object or a string, got {_kind(inner)}")


def check_notifications(body: Any) -> None:
    """Check a POST a webhook receiver got: a changeNotificationCollection (lifecycle
    notifications included), or fail."""
    check_body(body, CHANGE_NOTIFICATIONS)


# Answers that are not Graph's and are recognised by shape (neither checked nor counted).
NOT_GRAPH: dict[str, Callable[[dict[str, Any]], bool]] = {
    # The identity platform's token answer and its OAuth error (auth-v2-service.md).
    "token": lambda b: "access_token" in b and "token_type" in b,
    "oauth error": lambda b: isinstance(b.get("error"), str) and "error_description" in b,
    # OpenID discovery, signing keys and msal's instance discovery of the authority.
    "openid configuration": lambda b: "token_endpoint" in b and "issuer" in b,
    "signing keys": lambda b: set(b) == {"keys"} and isinstance(b["keys"], list),
    "instance discovery": lambda b: "tenant_discovery_endpoint" in b,
    # The simulator's own control API (/control/...).
    "control": lambda b: set(b) in ({"result"}, {"error"}) and not isinstance(b.get("error"), dict),
}


def _is_base64(value: str) -> bool:
    """Standard or URL-safe base64 (OData specifies base64url; Graph also sends standard)."""
    bare = value.rstrip("=").translate(str.maketrans("-_", "+/"))
    try:
        base64.b64decode(bare + "=" * (-len(bare) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _spell(ref: TypeRef) -> str:
    return f"Collection({ref.name})" if ref.collection else ref.name


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
