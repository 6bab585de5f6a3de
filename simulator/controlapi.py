"""The control API: JSON over HTTP under /control/, mirroring the Python ``Control``/``Faults`` API.

Mailbox actions are ``POST /control/mailboxes/{smtp}/{action}`` with the action's keyword arguments
as a JSON object (the same names as the Python methods). See README.md for the full list.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from simulator.errors import SimulatorError

if TYPE_CHECKING:
    from simulator.server import Simulator

MAILBOX_ACTIONS = frozenset(
    {
        "create_folder", "rename_folder", "move_folder", "delete_folder", "empty_folder",
        "create_item", "update_item", "move_item", "copy_item", "delete_item", "item", "folder_id",
    }
)  # fmt: skip
FAULT_ACTIONS = frozenset(
    {"throttle", "http_error", "latency", "drop_streams", "stall_streams", "lose_push",
     "lose_sync", "clear"}
)
MAX_JSON_BYTES = 1024 * 1024


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_JSON_BYTES:
        raise SimulatorError("request body too large")
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SimulatorError(f"not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise SimulatorError("the body must be a JSON object")
    return value


def _call(method: Callable[..., Any], *args: Any, **kwargs: Any) -> Response:
    try:
        result = method(*args, **kwargs)
    except (SimulatorError, ValueError) as exc:
        return JSONResponse({"error": str(exc)}, 400)
    except TypeError as exc:
        return JSONResponse({"error": f"bad arguments: {exc}"}, 400)
    return JSONResponse({"result": result})


def routes(sim: Simulator) -> list[Route]:
    """The control API's routes for one simulator."""

    async def mailboxes(request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse({"result": sim.control.mailboxes()})
        try:
            body = await _json(request)
        except SimulatorError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return _call(sim.control.create_mailbox, **body)

    async def mailbox(request: Request) -> Response:
        return _call(sim.control.mailbox_info, request.path_params["smtp"])

    async def truth(request: Request) -> Response:
        return _call(sim.control.ground_truth, request.path_params["smtp"])

    async def action(request: Request) -> Response:
        name = request.path_params["action"]
        if name not in MAILBOX_ACTIONS:
            return JSONResponse({"error": f"unknown action {name!r}"}, 404)
        try:
            body = await _json(request)
        except SimulatorError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return _call(getattr(sim.control, name), request.path_params["smtp"], **body)

    async def fault(request: Request) -> Response:
        name = request.path_params["action"]
        if name not in FAULT_ACTIONS:
            return JSONResponse({"error": f"unknown fault {name!r}"}, 404)
        try:
            body = await _json(request)
        except SimulatorError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return _call(getattr(sim.faults, name), **body)

    async def requests_(request: Request) -> Response:
        if request.method == "DELETE":
            sim.request_log.clear()
            return JSONResponse({"result": None})
        entries = sim.request_log.entries(
            request.query_params.get("operation"), request.query_params.get("mailbox")
        )
        rows = [dataclasses.asdict(e) | {"when": e.when.isoformat()} for e in entries]
        return JSONResponse({"result": rows})

    async def subscriptions(request: Request) -> Response:
        return JSONResponse({"result": sim.control.subscriptions()})

    async def expire(request: Request) -> Response:
        try:
            body = await _json(request)
        except SimulatorError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return _call(sim.control.expire_subscriptions, body.get("ids"))

    async def advance(request: Request) -> Response:
        try:
            body = await _json(request)
        except SimulatorError as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return _call(sim.clock.advance, float(body.get("seconds", 0)))

    async def push(request: Request) -> Response:
        return JSONResponse({"result": [dataclasses.asdict(d) for d in sim.push.deliveries]})

    return [
        Route("/control/mailboxes", mailboxes, methods=["GET", "POST"]),
        Route("/control/mailboxes/{smtp}", mailbox, methods=["GET"]),
        Route("/control/mailboxes/{smtp}/truth", truth, methods=["GET"]),
        Route("/control/mailboxes/{smtp}/{action}", action, methods=["POST"]),
        Route("/control/faults/{action}", fault, methods=["POST"]),
        Route("/control/requests", requests_, methods=["GET", "DELETE"]),
        Route("/control/subscriptions", subscriptions, methods=["GET"]),
        Route("/control/subscriptions/expire", expire, methods=["POST"]),
        Route("/control/clock/advance", advance, methods=["POST"]),
        Route("/control/push", push, methods=["GET"]),
    ]
