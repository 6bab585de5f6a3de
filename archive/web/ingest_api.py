"""``POST /api/ingest/v1/batches``: the publisher's way in (see archive/README.md, "Ingest API").

Checks run before anything is written, cheapest first: the bearer token (401), the declared and
actual body size (413), JSON and the batch envelope (400), the record count (413), then every
record (422 listing each bad record by index and ref). Only a batch with no bad record is
applied, in one transaction; a database failure answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from archive.accounts import token_name
from archive.ingest.apply import Outcome, Parsed, apply_batch
from archive.ingest.wire import (
    IngestAccepted,
    IngestRejected,
    RecordRejectedError,
    Rejection,
    parse_record,
)
from archive.repair import DriftFinding, folder_counts
from archive.store.tables import KEY
from archive.web.context import ArchiveContext, context

router = APIRouter(tags=["ingest"])
Ctx = Annotated[ArchiveContext, Depends(context)]
RETRY_AFTER_S = "5"

_BATCH_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/IngestBatch"}}},
}


class _Problem(HTTPException):
    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=detail, headers=headers)


@router.post(
    "/api/ingest/v1/batches",
    summary="Apply a batch of state records, all or none, idempotently",
    response_model=IngestAccepted,
    openapi_extra={"requestBody": _BATCH_BODY},
    responses={
        400: {"description": "the body is not JSON or not a batch"},
        401: {"description": "no valid ingest token (Authorization: Bearer ...)"},
        413: {"description": "the body or the record count is over the limit"},
        422: {"model": IngestRejected, "description": "bad records, named; nothing was written"},
        503: {"description": "the store is unavailable; retry after Retry-After seconds"},
    },
)
async def ingest_batch(request: Request, ctx: Ctx) -> Any:
    """Apply the batch. A record whose version is not higher than the one held for its key
    changes nothing but the history, so resending a batch, or sending batches out of order, is
    harmless: the sender may retry until it gets a 200 and only then commit what it consumed."""
    await run_in_threadpool(_authorise, request, ctx)
    body = await _read_limited(request, ctx.settings.max_request_bytes)
    raw_records = _envelope(body, ctx.settings.max_batch_records)
    parsed, rejected = _parse(raw_records, ctx.settings.accept_mailbox_domains)
    if rejected:
        ctx.metrics.batches.labels("rejected").inc()
        verdict = IngestRejected(
            detail=f"{len(rejected)} of {len(raw_records)} records are invalid; nothing written",
            rejected=rejected,
        )
        return JSONResponse(status_code=422, content=verdict.model_dump())
    outcome = await run_in_threadpool(_apply, ctx, parsed)
    ctx.metrics.batches.labels("applied").inc()
    for name in ("applied", "stale"):
        ctx.metrics.records.labels(name).inc(getattr(outcome, name))
    return IngestAccepted(**vars(outcome))


class DriftFolder(BaseModel):
    """A folder whose count differs between Exchange and the archive."""

    folder_key: str = Field(max_length=KEY)
    exchange: int = Field(ge=0)
    archive: int = Field(ge=0)


class DriftCheckReport(BaseModel):
    """What one drift check of a mailbox found (the extractor's ``ArchiveCounts.report``)."""

    mailbox: str = Field(max_length=320)
    checked: int = Field(ge=0)
    differing: list[DriftFolder] = Field(max_length=10_000)


@router.get("/api/ingest/v1/counts/{mailbox}", summary="Messages shown per folder of a mailbox")
def folder_message_counts(mailbox: str, request: Request, ctx: Ctx) -> dict[str, Any]:
    """For the drift check: per live folder key, the messages whose folder it is now (deleted
    into it included, withdrawn ones not). Needs an ingest token."""
    _authorise(request, ctx)
    address = mailbox.strip().lower()
    with ctx.engine.connect() as conn:
        return {"mailbox": address, "folders": folder_counts(conn, address)}


@router.post("/api/ingest/v1/drift", summary="Report what a drift check found")
def drift_report(report: DriftCheckReport, request: Request, ctx: Ctx) -> dict[str, Any]:
    """Keep a drift check's findings for the admin page. Needs an ingest token."""
    _authorise(request, ctx)
    found = [DriftFinding(d.folder_key, d.exchange, d.archive) for d in report.differing]
    ctx.drift.record(report.mailbox.strip().lower(), report.checked, found)
    ctx.metrics.drift_folders.inc(len(found))
    return {"recorded": len(found)}


def _authorise(request: Request, ctx: ArchiveContext) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        with ctx.engine.connect() as conn:
            if token_name(conn, token.strip()) is not None:
                return
    ctx.metrics.batches.labels("unauthorised").inc()
    raise _Problem(401, "a valid ingest token is required", {"WWW-Authenticate": "Bearer"})


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _Problem(413, f"request body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Problem(413, f"request body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _envelope(body: bytes, max_records: int) -> list[Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Problem(400, f"body is not JSON: {exc}") from exc
    except RecursionError as exc:  # the parser's stack, not ours: no batch nests this deep
        raise _Problem(400, "body is not a batch: JSON nested too deeply") from exc
    if b"\\u0000" in body:  # rare: spare every other batch the walk
        try:
            payload = _without_nul(payload)
        except RecursionError as exc:
            raise _Problem(400, "body is not a batch: JSON nested too deeply") from exc
    records = payload.get("records") if isinstance(payload, dict) else None
    if not isinstance(records, list) or not records:
        raise _Problem(400, "a batch is a JSON object whose 'records' is a non-empty list")
    extra = sorted(set(payload) - {"records"})
    if extra:
        raise _Problem(400, f"unknown batch fields: {', '.join(map(str, extra))[:200]}")
    if len(records) > max_records:
        raise _Problem(413, f"batch has {len(records)} records; at most {max_records} allowed")
    return records


def _without_nul(value: Any) -> Any:
    """``value`` with every NUL in its texts replaced by U+FFFD. PostgreSQL cannot hold a NUL in
    a text, and Graph's JSON can carry one in a subject or a folder name: refusing the batch would
    stall the mailbox behind it for good, so the character is marked as not kept instead."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, list):
        return [_without_nul(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_nul(v) for k, v in value.items()}
    return value


def _parse(raw: list[Any], domains: tuple[str, ...]) -> tuple[list[Parsed], list[Rejection]]:
    parsed: list[Parsed] = []
    rejected: list[Rejection] = []
    accepted = {d.lower().lstrip("@") for d in domains}
    for index, item in enumerate(raw):
        try:
            record = parse_record(index, item)
        except RecordRejectedError as exc:
            rejected.append(exc.rejection)
            continue
        domain = record.state.mailbox.rpartition("@")[2]
        if accepted and domain not in accepted:
            rejected.append(
                Rejection(
                    index=index,
                    ref=record.ref,
                    reason=f"unknown mailbox {record.state.mailbox}: domain {domain} is not "
                    "one this archive accepts",
                )
            )
            continue
        parsed.append(record)
    return parsed, rejected


def _apply(ctx: ArchiveContext, parsed: list[Parsed]) -> Outcome:
    started = time.perf_counter()
    try:
        with ctx.engine.begin() as conn:
            outcome = apply_batch(conn, parsed, time.time_ns() // 1_000_000)
    except SQLAlchemyError as exc:
        ctx.metrics.batches.labels("unavailable").inc()
        raise _Problem(
            503, f"the store could not apply the batch ({type(exc).__name__}); nothing written",
            {"Retry-After": RETRY_AFTER_S},
        ) from exc
    ctx.metrics.ingest_seconds.observe(time.perf_counter() - started)
    return outcome
