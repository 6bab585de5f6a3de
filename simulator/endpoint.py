"""The EWS endpoint: from an HTTP request to a SOAP response, with every check Exchange makes.

Order of checks: injected HTTP errors and latency, body size, authentication (401), SOAP parsing,
server version, known operation, schema validation (``ErrorSchemaValidation``, as Exchange validates
before acting), impersonation, routing to a back-end, throttling, then the operation itself. Any
failure is answered (HTTP error or SOAP fault) and logged; nothing a client sends stops the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from lxml import etree
from starlette.requests import Request
from starlette.responses import Response

from simulator.accounts import Account
from simulator.affinity import COOKIE, Route, route
from simulator.context import Context
from simulator.errors import BadRequestError, EwsError
from simulator.faults import Faults
from simulator.ops.convert import convert_id
from simulator.ops.folders import find_folder, get_folder
from simulator.ops.items import find_item, get_item
from simulator.ops.notify import get_events, subscribe, unsubscribe
from simulator.ops.sync import sync_folder_hierarchy, sync_folder_items
from simulator.requestlog import LoggedRequest, RequestLog
from simulator.settings import SimulatorSection
from simulator.soap import M, SoapRequest, envelope, fault, parse_request
from simulator.store import Store
from simulator.throttling import Throttle
from simulator.validation import RequestValidator, ResponseValidator

log = structlog.get_logger(__name__)

Handler = Callable[[Context, etree._Element], etree._Element]
OPERATIONS: dict[str, Handler] = {
    "GetFolder": get_folder,
    "FindFolder": find_folder,
    "GetItem": get_item,
    "FindItem": find_item,
    "SyncFolderHierarchy": sync_folder_hierarchy,
    "SyncFolderItems": sync_folder_items,
    "Subscribe": subscribe,
    "Unsubscribe": unsubscribe,
    "GetEvents": get_events,
    "ConvertId": convert_id,
}
STREAMING = "GetStreamingEvents"
VERSIONS = frozenset(
    (
        "Exchange2007",
        "Exchange2007_SP1",
        "Exchange2009",
        "Exchange2010",
        "Exchange2010_SP1",
        "Exchange2010_SP2",
        "Exchange2012",
        "Exchange2013",
        "Exchange2013_SP1",
        "Exchange2015",
        "Exchange2016",
        "V2015_10_05",
        "V2016_01_06",
        "V2016_04_13",
        "V2016_07_13",
        "V2016_10_10",
        "V2017_01_07",
        "V2017_04_14",
        "V2017_07_11",
        "V2017_10_09",
        "V2018_01_08",
    )
)
XML = "text/xml; charset=utf-8"


@dataclass(slots=True)
class Outcome:
    """What the endpoint decided, for the request log."""

    operation: str = "?"
    account: str | None = None
    mailbox: str | None = None
    backend: str | None = None
    result: str = "NoError"


def first_code(body: etree._Element) -> str:
    """The ResponseCode of the first response message in a response body."""
    code = body.find(f".//{{{M}}}ResponseCode")
    return "NoError" if code is None or code.text is None else code.text


class Endpoint:
    """Answers POSTs to /EWS/Exchange.asmx."""

    def __init__(
        self,
        store: Store,
        settings: SimulatorSection,
        faults: Faults,
        throttle: Throttle,
        request_log: RequestLog,
        validator: ResponseValidator | None,
        streaming: Callable[[Context, SoapRequest, Outcome, Route], Response] | None = None,
        request_validator: RequestValidator | None = None,  # None: no schema at hand
    ) -> None:
        self.store = store
        self.settings = settings
        self.faults = faults
        self.throttle = throttle
        self.request_log = request_log
        self.validator = validator
        self.request_validator = request_validator
        self.streaming = streaming
        build = settings.server_build
        self.version_info = {
            "MajorVersion": str(build[0]),
            "MinorVersion": str(build[1]),
            "MajorBuildNumber": str(build[2]),
            "MinorBuildNumber": str(build[3]),
            "Version": settings.server_version,
        }

    def soap(self, body: etree._Element, status: int = 200, cookie: str | None = None) -> Response:
        """A SOAP response (checked against the schema when validation is on)."""
        if self.validator is not None:
            problem = self.validator.check(body)
            if problem is not None:
                log.error("invalid response", problem=problem)
                return Response(
                    fault(EwsError("ErrorInternalServerError", f"invalid response: {problem}")),
                    500,
                    media_type=XML,
                )
        response = Response(envelope(body, self.version_info), status, media_type=XML)
        if cookie is not None:
            response.set_cookie(COOKIE, cookie, path="/", httponly=True)
        return response

    async def __call__(self, request: Request) -> Response:
        started = time.monotonic()
        at = self.store.clock.monotonic()
        when = self.store.clock.now()
        outcome = Outcome()
        try:
            response = await self._answer(request, outcome)
        except Exception:
            log.exception("EWS request failed")
            outcome.result = "ErrorInternalServerError"
            response = Response(
                fault(EwsError("ErrorInternalServerError", "An internal server error occurred.")),
                500,
                media_type=XML,
            )
        if outcome.result == "NoError" and response.status_code != 200:
            outcome.result = f"HTTP {response.status_code}"
        self.request_log.add(
            LoggedRequest(
                at=at,
                when=when,
                operation=outcome.operation,
                account=outcome.account,
                mailbox=outcome.mailbox,
                backend=outcome.backend,
                status=response.status_code,
                result=outcome.result,
                duration_s=time.monotonic() - started,
            )
        )
        return response

    async def _read_body(self, request: Request) -> bytes:
        """The body, or BadRequestError past the size limit. An oversized body is still drained
        (and dropped) so the client reads a clean 413 instead of a reset connection."""
        limit = self.settings.max_request_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size <= limit:
                chunks.append(chunk)
            else:
                chunks.clear()
        if size > limit:
            raise BadRequestError("request body too large")
        return b"".join(chunks)

    async def _answer(self, request: Request, outcome: Outcome) -> Response:
        status = self.faults.take_http_error("*")
        if status is not None:
            outcome.result = f"HTTP {status}"
            return Response(b"Service Unavailable" if status == 503 else b"Server Error", status)
        try:
            raw = await self._read_body(request)
        except BadRequestError:
            outcome.result = "HTTP 413"
            return Response(b"Request Entity Too Large", 413)
        account = self.store.accounts.authenticate(request.headers.get("authorization"))
        if account is None:
            outcome.result = "HTTP 401"
            return Response(
                b"401 - Unauthorized",
                401,
                headers={"WWW-Authenticate": 'Basic realm="sim.example", Bearer'},
            )
        outcome.account = account.name
        try:
            soap = parse_request(raw)
        except BadRequestError as exc:
            return self._fault(outcome, EwsError("ErrorSchemaValidation", str(exc), fault=True))
        outcome.operation = soap.name
        try:
            return await self._dispatch(request, raw, soap, account, outcome)
        except EwsError as error:
            return self._fault(outcome, error)

    def _fault(self, outcome: Outcome, error: EwsError) -> Response:
        outcome.result = error.code
        return Response(fault(error), 500, media_type=XML)

    async def _dispatch(
        self, request: Request, raw: bytes, soap: SoapRequest, account: Account, outcome: Outcome
    ) -> Response:
        if soap.requested_version is not None and soap.requested_version not in VERSIONS:
            raise EwsError(
                "ErrorInvalidServerVersion", "The specified server version is invalid.", fault=True
            )
        handler = OPERATIONS.get(soap.name)
        if handler is None and soap.name != STREAMING:
            raise EwsError(
                "ErrorInvalidRequest",
                f"The request is invalid: unknown operation {soap.name!r}.",
                fault=True,
            )
        outcome.mailbox = soap.impersonate
        self._validate(raw, soap)
        with self.store.lock:
            ctx, routed = self._context(request, soap, account)
        outcome.mailbox = None if ctx.mailbox is None else ctx.mailbox.smtp
        outcome.backend = ctx.backend
        back_off = self.faults.take_throttle(soap.name)
        if back_off is not None:
            raise EwsError(
                "ErrorServerBusy",
                "The server cannot service this request right now. Try again later.",
                fault=True,
                back_off_ms=back_off,
            )
        if handler is None:
            assert self.streaming is not None  # noqa: S101 - wired by the application
            return self.streaming(ctx, soap, outcome, routed)
        with self.throttle.request(ctx.budget):
            if self.faults.latency_s:
                # Injected latency holds the request's concurrency slot, as a slow server would.
                await asyncio.sleep(self.faults.latency_s)
            with self.store.lock:
                body = handler(ctx, soap.operation)
        outcome.result = first_code(body)
        return self.soap(body, cookie=routed.set_cookie)

    def _validate(self, raw: bytes, soap: SoapRequest) -> None:
        """Refuse a request messages.xsd refuses, saying where, before anything acts on it."""
        if self.request_validator is None:
            return
        violation = self.request_validator.check(raw, soap.envelope)
        if violation is not None:
            log.warning("request failed schema validation", operation=soap.name,
                        line=violation.line, position=violation.position, violation=violation.text)
            raise EwsError(
                "ErrorSchemaValidation",
                f"The request failed schema validation: {violation.text}",
                fault=True,
                violation=violation,
            )

    def _context(
        self, request: Request, soap: SoapRequest, account: Account
    ) -> tuple[Context, Route]:
        mailbox = None
        impersonating = soap.impersonate is not None
        if soap.impersonate is not None:
            mailbox = self.store.mailbox(soap.impersonate)
            if mailbox is None:
                raise EwsError(
                    "ErrorNonExistentMailbox",
                    "The SMTP address has no mailbox associated with it.",
                    fault=True,
                )
            if not account.may_impersonate(mailbox.smtp):
                raise EwsError(
                    "ErrorImpersonateUserDenied",
                    "The account does not have permission to impersonate the requested user.",
                    fault=True,
                )
        elif account.mailbox:
            mailbox = self.store.mailbox(account.mailbox)
        routed = route(request.headers, request.cookies, self.store, mailbox)
        budget = mailbox.smtp.lower() if impersonating and mailbox else account.name.lower()
        ctx = Context(
            store=self.store,
            account=account,
            mailbox=mailbox,
            impersonating=impersonating,
            api_version=soap.requested_version or "Exchange2013",
            backend=routed.backend,
            budget=budget,
            limits=self.settings.limits,
            faults=self.faults,
        )
        return ctx, routed
