"""The Graph face: HTTP requests under ``/v1.0`` answered from the same store the EWS face reads.

Order of checks, as Graph makes them: body size, authentication (401), the path (400 for a
segment Graph does not know), injected HTTP errors (which may target operations), the user
(404 unknown, 403 outside the application access policy), throttling (429 with Retry-After,
also injected), latency, then the handler. A ``GraphError`` from anywhere becomes Graph's JSON
error; an unexpected exception becomes a 500 with Graph's shape and is logged, and the server
keeps serving. Every answer is logged in the shared request log (operation ``graph.<name>``,
account = the application id).

``$batch`` dispatches each inner request through ``dispatch``, so each is authenticated, routed,
throttled and logged on its own, as Graph evaluates batched requests individually.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import re
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import structlog
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.clock import Clock
from simulator.graph import batch, delivery, delta, reads, subscriptions, token
from simulator.graph.auth import GraphAuth, Principal
from simulator.graph.errors import GraphError
from simulator.graph.faults import GraphFaults
from simulator.graph.ids import find_message, message_id, to_graph, user_id
from simulator.graph.request import GraphContext, GraphRequest, GraphResponse, GraphRoute
from simulator.graph.throttle import GraphThrottle
from simulator.mailbox import Mailbox
from simulator.requestlog import LoggedRequest, RequestLog
from simulator.settings import GraphSection
from simulator.store import Store

log = structlog.get_logger(__name__)

VERSION_ROOT = "/v1.0"
JSON_TYPE = "application/json;odata.metadata=minimal;odata.streaming=true;charset=utf-8"
# OData key and function syntax, normalised to plain segments: mailFolders('inbox') and delta().
_KEY = re.compile(r"\('([^'/]*)'\)")
_CALL = re.compile(r"\(\)")


class _Compiled:
    """A route with its pattern compiled (literal segments match case-insensitively)."""

    def __init__(self, route: GraphRoute) -> None:
        self.route = route
        parts = []
        for segment in route.pattern.strip("/").split("/"):
            if segment.startswith("{") and segment.endswith("}"):
                parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
            else:
                parts.append("(?i:" + re.escape(segment) + ")")
        self.regex = re.compile("/" + "/".join(parts))
        self.is_async = inspect.iscoroutinefunction(route.handler)


class GraphFace:
    """Answers Graph v1.0 requests over the simulator's store."""

    def __init__(
        self,
        store: Store,
        settings: GraphSection,
        clock: Clock,
        request_log: RequestLog,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.request_log = request_log
        self.faults = GraphFaults()
        self.throttle = GraphThrottle(
            clock,
            concurrency=settings.concurrency,
            per_window=settings.requests_per_10_min,
            concurrency_scope=settings.concurrency_scope,
        )
        self.auth = GraphAuth(clock, settings.tenant_id)
        self.auth.register(
            settings.client_id,
            secret=settings.client_secret.get_secret_value(),
            roles={"Mail.Read"},
            mailboxes={"*"},
        )
        self.tokens = delta.DeltaTokens()
        self.subscriptions = subscriptions.GraphSubscriptions(self)
        self.delivery = delivery.Delivery(self)
        self._routes: list[_Compiled] = []
        self.controls: dict[str, Callable[..., Any]] = {
            "throttle": self.faults.throttle,
            "http_error": self.faults.http_error,
            "latency": self.faults.latency,
            "drop_notifications": self.faults.drop_notifications,
            "delay_notifications": self.faults.delay_notifications,
            "reorder_notifications": self.faults.reorder_notifications,
            "declare_slow": self.faults.declare_slow,
            "clear": self.faults.clear,
            "message_ids": self.message_ids,
        }
        for module in (reads, delta, subscriptions, batch):
            self.add_routes(module.routes())
            self.controls.update(module.controls(self))
        self.controls.update(token.controls(self))

    def add_routes(self, routes: Iterable[GraphRoute]) -> None:
        """Serve more routes (earlier ones win when two patterns match)."""
        self._routes.extend(_Compiled(r) for r in routes)

    # --- HTTP ---------------------------------------------------------------------------------
    def starlette_routes(self) -> list[BaseRoute]:
        """The face's routes: ``/v1.0/...``, the token authority, and ``/control/graph/...``."""

        async def graph(request: Request) -> Response:
            return await self.handle(request)

        async def control(request: Request) -> Response:
            return await self._control(request)

        methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
        return [
            Route(VERSION_ROOT + "/{rest:path}", graph, methods=methods),
            Route("/control/graph/{action}", control, methods=["POST"]),
            *token.routes(self),
        ]

    async def handle(self, request: Request) -> Response:
        """Answer one HTTP request under the version root."""
        base_url = str(request.base_url).rstrip("/") + VERSION_ROOT
        path = request.url.path[len(VERSION_ROOT) :] or "/"
        body = b""
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= self.settings.max_request_bytes:
                body += chunk
        if size > self.settings.max_request_bytes:
            answer = _error(GraphError(413, "RequestEntityTooLarge", "The request is too large."))
            return self._render(answer, request.headers.get("client-request-id"))
        graph_request = GraphRequest(
            method=request.method,
            path=path,
            query={k: v for k, v in request.query_params.items()},
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            base_url=base_url,
        )
        try:
            principal = self.auth.verify(request.headers.get("authorization"))
        except GraphError as error:
            self._log(time.monotonic(), "graph.?", None, None, error.status, error.code)
            return self._render(_error(error), request.headers.get("client-request-id"))
        answer = await self.dispatch(graph_request, principal)
        return self._render(answer, request.headers.get("client-request-id"))

    def _render(self, answer: GraphResponse, client_request_id: str | None) -> Response:
        headers = {"request-id": str(uuid.uuid4()), **answer.headers}
        if client_request_id:
            headers["client-request-id"] = client_request_id
        if answer.body is None:
            return Response(status_code=answer.status, headers=headers)
        if isinstance(answer.body, str):
            return Response(answer.body, answer.status, headers, media_type="text/plain")
        return Response(
            json.dumps(answer.body, separators=(",", ":")).encode(),
            answer.status,
            headers,
            media_type=JSON_TYPE,
        )

    # --- dispatch -----------------------------------------------------------------------------
    async def dispatch(self, request: GraphRequest, principal: Principal) -> GraphResponse:
        """Route, check and answer one request (an HTTP one or one out of a ``$batch``)."""
        started = time.monotonic()
        operation, smtp, backend = "graph.?", None, None
        try:
            compiled, params = self._match(request)
            operation = "graph." + compiled.route.operation
            injected = self.faults.take_http_error(operation)
            if injected is not None:
                return self._logged(started, operation, principal, _injected(injected))
            ctx = GraphContext(self, request, principal, params)
            if "user" in params:
                ctx.mailbox = self._user(params["user"])
                ctx.user = params["user"]
                smtp, backend = ctx.mailbox.smtp, ctx.mailbox.backend
                principal.require_mailbox(smtp)
            answer = await self._call(compiled, ctx, principal, operation)
            result = "OK" if answer.status < 400 else str(answer.status)
        except GraphError as error:
            answer, result = _error(error), error.code
        except Exception:
            log.exception("Graph request failed", path=request.path)
            failure = GraphError(500, "InternalServerError", "An internal server error occurred.")
            answer, result = _error(failure), failure.code
        self._log(started, operation, principal.app_id, smtp, answer.status, result, backend)
        return answer

    def _logged(
        self, started: float, operation: str, principal: Principal, answer: GraphResponse
    ) -> GraphResponse:
        self._log(
            started, operation, principal.app_id, None, answer.status, f"HTTP {answer.status}"
        )
        return answer

    async def _call(
        self, compiled: _Compiled, ctx: GraphContext, principal: Principal, operation: str
    ) -> GraphResponse:
        retry_after = self.faults.take_throttle(operation)
        if retry_after is not None:
            raise GraphError(
                429,
                "ApplicationThrottled",
                "Application is over its MailboxConcurrency limit.",
                headers={"Retry-After": str(retry_after)},
            )
        mailbox = "" if ctx.mailbox is None else ctx.mailbox.smtp.lower()
        with self.throttle.request(principal.app_id, mailbox):
            if self.faults.latency_s:
                await asyncio.sleep(self.faults.latency_s)
            if compiled.is_async:
                result = compiled.route.handler(ctx)
                assert inspect.isawaitable(result)  # noqa: S101 - checked when compiled
                return await result
            with self.store.lock:
                answer = compiled.route.handler(ctx)
            assert isinstance(answer, GraphResponse)  # noqa: S101 - synchronous handlers
            return answer

    def _match(self, request: GraphRequest) -> tuple[_Compiled, dict[str, str]]:
        path = _CALL.sub("", _KEY.sub(lambda m: "/" + m.group(1), request.path)).rstrip("/")
        allowed = False
        for compiled in self._routes:
            match = compiled.regex.fullmatch(path)
            if match is None:
                continue
            if compiled.route.method != request.method:
                allowed = True
                continue
            return compiled, {k: unquote(v) for k, v in match.groupdict().items()}
        if allowed:
            raise GraphError(
                405, "BadRequest", f"The HTTP method '{request.method}' is not allowed here."
            )
        if path.lower() == "/me" or path.lower().startswith("/me/"):
            raise GraphError(
                400, "BadRequest", "/me request is only valid with delegated authentication flow."
            )
        segment = next((s for s in path.split("/") if s), "")
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{segment}'.")

    def _user(self, ref: str) -> Mailbox:
        mailbox = self.find_user(ref)
        if mailbox is None:
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{ref}' is invalid.")
        return mailbox

    def find_user(self, ref: str) -> Mailbox | None:
        """A mailbox by user id (GUID) or userPrincipalName."""
        with self.store.lock:
            found = self.store.mailbox(ref)
            if found is not None:
                return found
            ref = ref.lower()
            return next((m for m in self.store.mailboxes.values() if user_id(m.smtp) == ref), None)

    def message_ids(self, smtp: str, item_id: str) -> dict[str, str]:
        """The Graph ids of a live message named by its EWS id or either Graph id:
        ``{"id": default id, "immutableId": immutable id}`` (tests translate control ids)."""
        with self.store.lock:
            mailbox = self.store.require(smtp)
            item = find_message(mailbox, to_graph(item_id))
            if item is None:
                raise KeyError(f"no message {item_id!r} in {smtp}")
            return {
                "id": message_id(mailbox, item, immutable=False),
                "immutableId": message_id(mailbox, item, immutable=True),
            }

    def _log(
        self,
        started: float,
        operation: str,
        account: str | None,
        mailbox: str | None,
        status: int,
        result: str,
        backend: str | None = None,
    ) -> None:
        self.request_log.add(
            LoggedRequest(
                at=self.clock.monotonic(),
                when=self.clock.now(),
                operation=operation,
                account=account,
                mailbox=mailbox,
                backend=backend,
                status=status,
                result=result,
                duration_s=time.monotonic() - started,
            )
        )

    # --- control ------------------------------------------------------------------------------
    async def _control(self, request: Request) -> Response:
        name = request.path_params["action"]
        action = self.controls.get(name)
        if action is None:
            return JSONResponse({"error": f"unknown Graph control {name!r}"}, 404)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            return JSONResponse({"error": f"not JSON: {exc}"}, 400)
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, 400)
        try:
            result = action(**body)
        except (GraphError, ValueError, KeyError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        except TypeError as exc:
            return JSONResponse({"error": f"bad arguments: {exc}"}, 400)
        return JSONResponse({"result": result})


def _error(error: GraphError) -> GraphResponse:
    """Graph's error body (concepts/errors.md) for an error."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    request_id = str(uuid.uuid4())
    body = {
        "error": {
            "code": error.code,
            "message": error.message,
            "innerError": {"date": now, "request-id": request_id, "client-request-id": request_id},
        }
    }
    return GraphResponse(body, error.status, dict(error.headers))


def _injected(status: int) -> GraphResponse:
    names = {503: "ServiceUnavailable", 500: "InternalServerError", 502: "BadGateway"}
    code = names.get(status, "UnknownError")
    return _error(GraphError(status, code, "The service is temporarily unavailable."))
