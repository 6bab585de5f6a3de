"""What a Graph handler gets and gives: the request, its context, the response, a route.

Kept apart from the face so handler modules import these without importing the face (which
imports them). ``$batch`` builds ``GraphRequest``s from its JSON and dispatches each like an HTTP
request, so handlers never know which way a request came.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from simulator.graph.auth import Principal
from simulator.graph.errors import GraphError, bad_request
from simulator.mailbox import Mailbox

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace

_PREFER = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*(?:=\s*("[^"]*"|[^,;\s]*))?\s*')


@dataclass(frozen=True, slots=True)
class GraphRequest:
    """One Graph request. ``path`` is normalised and relative to the version root
    (``/users/{id}/mailFolders/inbox/messages/delta``), ``headers`` have lower-case names,
    ``base_url`` is the version root as the client reached it (for nextLinks and contexts)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes
    base_url: str

    def prefer(self) -> dict[str, str]:
        """The Prefer header's preferences (``odata.maxpagesize``, ``IdType``...), values
        unquoted; names keep their case, lookups should use ``prefers``."""
        found: dict[str, str] = {}
        for part in self.headers.get("prefer", "").split(","):
            match = _PREFER.fullmatch(part)
            if match and match.group(1):
                found[match.group(1)] = (match.group(2) or "").strip('"')
        return found

    def prefers(self, name: str) -> str | None:
        """One preference by case-insensitive name."""
        for key, value in self.prefer().items():
            if key.lower() == name.lower():
                return value
        return None

    @property
    def immutable_ids(self) -> bool:
        """Whether the client asked for immutable ids (``Prefer: IdType="ImmutableId"``)."""
        return (self.prefers("IdType") or "").lower() == "immutableid"

    def max_page_size(self) -> int | None:
        """``Prefer: odata.maxpagesize`` as a number, or None; 400 when it is not one."""
        raw = self.prefers("odata.maxpagesize")
        if raw is None:
            return None
        if not raw.isdigit() or int(raw) < 1:
            raise bad_request(f"Invalid odata.maxpagesize preference '{raw}'.")
        return int(raw)

    def json(self) -> dict[str, Any]:
        """The body as a JSON object, or 400 with Graph's wording."""
        try:
            value = json.loads(self.body or b"null")
        except (ValueError, RecursionError) as exc:
            raise bad_request(f"Unable to read JSON request payload: {exc}") from exc
        if not isinstance(value, dict):
            raise bad_request("Unable to read JSON request payload. A JSON object is expected.")
        return value


@dataclass(slots=True)
class GraphResponse:
    """A handler's answer: a JSON-able ``body`` (dict), text (str), or None for no content."""

    body: Any = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class GraphContext:
    """One request's identity and target: the face, the request, the verified principal, the
    path parameters, and the mailbox named by ``/users/{user}`` (None outside it)."""

    face: GraphFace
    request: GraphRequest
    principal: Principal
    params: dict[str, str]
    mailbox: Mailbox | None = None
    user: str | None = None

    def target(self) -> Mailbox:
        """The mailbox the request acts on."""
        if self.mailbox is None:
            raise GraphError(400, "BadRequest", "This request needs a user.")
        return self.mailbox

    @property
    def immutable_ids(self) -> bool:
        """Whether ids in the answer are immutable ids."""
        return self.request.immutable_ids


Handler = Callable[[GraphContext], "GraphResponse | Awaitable[GraphResponse]"]


@dataclass(frozen=True, slots=True)
class GraphRoute:
    """A method and path pattern (``/users/{user}/mailFolders/{folder}``), the operation name
    for the request log and fault targeting, and the handler. Synchronous handlers run under the
    store lock; asynchronous ones (which wait on the network) take it themselves."""

    method: str
    pattern: str
    operation: str
    handler: Handler
