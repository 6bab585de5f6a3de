"""JSON batching: ``POST /$batch`` (json-batching.md).

The body is ``{"requests": [...]}``, each request with ``id``, ``method``, ``url`` (relative to
the version root, with or without a leading slash), optional ``headers``, ``body`` and
``dependsOn``. The answer is ``{"responses": [{"id", "status", "headers", "body"}]}`` with 200
as soon as the batch itself parses; each request's own status is inside.

A malformed batch is a 400 for the whole batch: not an object with a ``requests`` array, more than
20 requests ("JSON batch requests are currently limited to 20 individual requests"), a request
without id, method or url, an absolute url, ids that repeat (compared case-insensitively: "Not
case-sensitive. Must be unique"), a ``dependsOn`` naming no request of the batch or closing a
cycle, or a body without a ``Content-Type`` header ("When a body is included with the request,
the headers object must contain a value for Content-Type"). A batch inside a batch is refused too.

Each request goes through ``GraphFace.dispatch`` like an HTTP request of its own, so it is routed,
checked against the mailbox policy, throttled and logged on its own ("Requests in a batch are
evaluated individually against the applicable throttling limits"): a throttled one answers 429
with its ``Retry-After`` among its headers. A request whose dependency did not succeed answers
424 Failed Dependency without running. At most 4 run at once (throttling-limits.md: "In a JSON
batch, at most 4 requests run in parallel"); when the face counts concurrency per application
rather than per mailbox, the batch request itself holds one of the application's slots, so its
requests run 3 at a time lest the batch throttle itself. Responses come back in request order
(json-batching.md allows any order).

The handler is asynchronous: it never holds the store lock, each inner request takes it.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from simulator.graph.errors import bad_request
from simulator.graph.request import GraphContext, GraphRequest, GraphResponse, GraphRoute

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace

MAX_REQUESTS = 20
PARALLEL = 4
_JSON = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"


@dataclass(frozen=True, slots=True)
class _Entry:
    """One request of a batch, parsed."""

    id: str
    request: GraphRequest
    depends_on: tuple[str, ...]


def _text(value: Any, what: str, index: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"Request {index} of the batch needs a string '{what}'.")
    return value


def _entry(raw: Any, index: int, base_url: str) -> _Entry:
    if not isinstance(raw, dict):
        raise bad_request(f"Request {index} of the batch is not a JSON object.")
    request_id = _text(raw.get("id"), "id", index)
    method = _text(raw.get("method"), "method", index).upper()
    url = _text(raw.get("url"), "url", index).strip()
    if "://" in url:
        raise bad_request(f"Request '{request_id}': the url must be relative to the version root.")
    headers = raw.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise bad_request(f"Request '{request_id}': headers must be an object of strings.")
    lowered = {str(k).lower(): v for k, v in headers.items()}
    body = b""
    if raw.get("body") is not None:
        if "content-type" not in lowered:
            raise bad_request(
                f"Request '{request_id}' has a body but its headers lack Content-Type."
            )
        body = _body(raw["body"], lowered["content-type"])
    path, _, query = url.partition("?")
    path = "/" + unquote(path).lstrip("/")
    if path.rstrip("/").lower() == "/$batch":
        raise bad_request(f"Request '{request_id}': a batch cannot contain a batch.")
    depends = raw.get("dependsOn") or []
    if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
        raise bad_request(f"Request '{request_id}': dependsOn must be an array of ids.")
    request = GraphRequest(
        method=method,
        path=path,
        query=dict(parse_qsl(query, keep_blank_values=True)),
        headers=lowered,
        body=body,
        base_url=base_url,
    )
    return _Entry(request_id, request, tuple(depends))


def _body(value: Any, content_type: str) -> bytes:
    """A JSON body as JSON; any other (json-batching.md: "a base64 URL-encoded value") decoded."""
    if "json" in content_type.lower() or not isinstance(value, str):
        return json.dumps(value).encode()
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError as exc:
        raise bad_request(f"A request body is neither JSON nor base64: {exc}") from exc


def parse(ctx: GraphContext) -> list[_Entry]:
    """The batch's requests, validated as a whole (400 on any fault)."""
    payload = ctx.request.json()
    raw = payload.get("requests")
    if not isinstance(raw, list) or not raw:
        raise bad_request("The batch needs a non-empty 'requests' array.")
    if len(raw) > MAX_REQUESTS:
        raise bad_request(
            f"The batch has {len(raw)} requests; at most {MAX_REQUESTS} are allowed in one batch."
        )
    entries = [_entry(r, i, ctx.request.base_url) for i, r in enumerate(raw)]
    ids = {e.id.lower() for e in entries}
    if len(ids) != len(entries):
        raise bad_request(
            "Request ids must be unique within a batch (they are not case-sensitive)."
        )
    for entry in entries:
        unknown = [d for d in entry.depends_on if d.lower() not in ids]
        if unknown:
            raise bad_request(f"Request '{entry.id}' depends on unknown requests {unknown}.")
    _refuse_cycles(entries)
    return entries


def _refuse_cycles(entries: list[_Entry]) -> None:
    graph = {e.id.lower(): [d.lower() for d in e.depends_on] for e in entries}
    done: set[str] = set()
    for start in graph:
        path: set[str] = set()
        stack: list[tuple[str, int]] = [(start, 0)]
        while stack:
            node, index = stack.pop()
            if index == 0:
                if node in done:
                    continue
                path.add(node)
            if index < len(graph[node]):
                stack.append((node, index + 1))
                child = graph[node][index]
                if child in path:
                    raise bad_request("The dependsOn of the batch's requests form a cycle.")
                stack.append((child, 0))
            else:
                path.discard(node)
                done.add(node)


def _shape(entry_id: str, answer: GraphResponse) -> dict[str, Any]:
    headers = dict(answer.headers)
    out: dict[str, Any] = {"id": entry_id, "status": answer.status, "headers": headers}
    if answer.body is not None:
        headers.setdefault("Content-Type", _JSON if isinstance(answer.body, dict) else "text/plain")
        out["body"] = answer.body
    return out


def _failed_dependency(entry_id: str) -> dict[str, Any]:
    error = {"code": "FailedDependency", "message": "A request this one depends on failed."}
    return {
        "id": entry_id,
        "status": 424,
        "headers": {"Content-Type": _JSON},
        "body": {"error": error},
    }


def _failed(result: dict[str, Any] | None) -> bool:
    return result is None or int(result["status"]) >= 400


async def post_batch(ctx: GraphContext) -> GraphResponse:
    """``POST /$batch``: run the batch's requests, each dispatched on its own."""
    entries = parse(ctx)
    face = ctx.face
    parallel = PARALLEL if face.settings.concurrency_scope != "app" else PARALLEL - 1
    gate = asyncio.Semaphore(max(1, min(parallel, face.settings.concurrency)))
    finished = {e.id.lower(): asyncio.Event() for e in entries}
    results: dict[str, dict[str, Any]] = {}

    async def run(entry: _Entry) -> None:
        try:
            for dependency in entry.depends_on:
                await finished[dependency.lower()].wait()
            if any(_failed(results.get(d.lower())) for d in entry.depends_on):
                results[entry.id.lower()] = _failed_dependency(entry.id)
                return
            async with gate:
                answer = await face.dispatch(entry.request, ctx.principal)
            results[entry.id.lower()] = _shape(entry.id, answer)
        finally:
            finished[entry.id.lower()].set()

    await asyncio.gather(*(run(e) for e in entries))
    return GraphResponse({"responses": [results[e.id.lower()] for e in entries]})


def routes() -> list[GraphRoute]:
    """The batch route."""
    return [GraphRoute("POST", "/$batch", "batch", post_batch)]


def controls(face: GraphFace) -> dict[str, Callable[..., Any]]:
    """Control actions of this part (none)."""
    return {}
