"""The listener's OpenAPI document as schemathesis needs it: the app's own (``app.openapi()``;
the listener does not publish it), with the bodies its raw routes read described, so they are
fuzzed too: SOAP for the push callback, Graph's notification collection for the webhooks."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

_SOAP_BODY = {
    "required": True,
    "content": {"text/xml": {"schema": {"type": "string", "maxLength": 2000}}},
}


def _webhook(subscriptions: list[tuple[str, str]]) -> dict[str, Any]:
    """A webhook POST: a notification collection whose subscription ids and client states are
    sometimes the genuine ones of ``subscriptions`` (so the fuzz reaches past the checks)."""
    ids = [{"type": "string", "minLength": 1, "maxLength": 200}]
    states: list[dict[str, Any]] = [{"type": "string", "minLength": 1, "maxLength": 200}]
    if subscriptions:
        ids.append({"enum": [i for i, _ in subscriptions]})
        states.append({"enum": [c for _, c in subscriptions]})
    notification = {
        "type": "object",
        "required": ["subscriptionId"],
        "properties": {
            "subscriptionId": {"anyOf": ids},
            "clientState": {"anyOf": states},
            "changeType": {"enum": ["created", "updated", "deleted", "weird"]},
            "lifecycleEvent": {
                "enum": ["missed", "subscriptionRemoved", "reauthorizationRequired", "other"]
            },
            "resource": {"type": "string"},
            "resourceData": {
                "type": "object",
                "properties": {"id": {"type": "string", "minLength": 1, "maxLength": 300}},
            },
            "tenantId": {"type": "string"},
        },
    }
    body = {
        "type": "object",
        "required": ["value"],
        "properties": {"value": {"type": "array", "items": notification, "minItems": 1}},
    }
    return {
        "parameters": [
            {"name": "validationToken", "in": "query", "required": False,
             "schema": {"type": "string"}}
        ],
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"202": {"description": "stored"}},
    }


def listener_document(
    app: FastAPI, subscriptions: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """The app's OpenAPI document plus the push and webhook bodies (``subscriptions``: genuine
    Graph subscription ids and client states to mix in)."""
    document = app.openapi()
    document["paths"]["/push/{token}"]["post"]["requestBody"] = _SOAP_BODY
    for path in ("/graph/notifications", "/graph/lifecycle"):
        document["paths"][path] = {"post": _webhook(subscriptions or [])}
    return document
