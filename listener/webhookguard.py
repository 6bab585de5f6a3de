"""Graph webhook bodies come from the network: check them before anything reads them.

Anyone who learns the notification URL can POST to it, so a body is hostile until checked, and
every refusal is a precise 4xx (never a 5xx, which would tell Graph to deliver again, and never a
crash): a body larger than the configured size is 413 (read no further than the limit), a content
type other than JSON is 415, bytes that are not JSON, or JSON nested deeper than the configured
depth, or a shape other than a ``changeNotificationCollection`` (changenotificationcollection.md:
``{"value": [changeNotification, ...]}``) with string fields where changenotification.md has
strings, is 400. What passes is a list of ``Notification``; whether each is genuine (a
subscription of ours, its ``clientState``) is decided by the Graph mode, not here.

The validation handshake (change-notifications-delivery-notificationurl-validation.md) answers
the URL-decoded token as ``text/plain``; Microsoft asks receivers to treat it as opaque and warns
about reflecting script, so the answer is plain text with ``nosniff`` and the token is bounded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MAX_TOKEN_CHARS = 8192
MAX_ID_CHARS = 2048


class BadWebhookError(ValueError):
    """A webhook request that is not acceptable; ``status`` is the HTTP status to answer."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class Notification:
    """One changeNotification as received: a change (``change_type``, ``message_id``) or a
    lifecycle notification (``lifecycle_event``), not yet known to be genuine."""

    subscription_id: str
    client_state: str | None
    change_type: str | None
    lifecycle_event: str | None
    message_id: str | None


def check_content_type(header: str | None) -> None:
    """415 unless the body is declared JSON (Graph sends ``application/json``)."""
    kind = (header or "").split(";", 1)[0].strip().lower()
    if kind != "application/json":
        raise BadWebhookError(f"content type {kind or 'none'!r} is not application/json", 415)


def check_validation_token(token: str) -> str:
    """The handshake's token, bounded (it is echoed back)."""
    if not token or len(token) > MAX_TOKEN_CHARS:
        raise BadWebhookError("validationToken is empty or too long")
    return token


def _depth_at_most(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return False
        if isinstance(current, dict):
            stack.extend((child, depth + 1) for child in current.values())
        elif isinstance(current, list):
            stack.extend((child, depth + 1) for child in current)
    return True


def _required(item: dict[str, Any], name: str, index: int) -> str:
    value = item.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS:
        raise BadWebhookError(
            f"value[{index}].{name} must be a non-empty string of at most {MAX_ID_CHARS} characters"
        )
    return value


def _string(item: dict[str, Any], name: str, index: int) -> str | None:
    return None if item.get(name) is None else _required(item, name, index)


def parse_notifications(body: bytes, max_depth: int) -> list[Notification]:
    """The notifications of a webhook body, or ``BadWebhookError`` saying what is wrong."""
    if not body.strip():
        raise BadWebhookError("empty body")
    try:
        document = json.loads(body)
    except RecursionError as exc:
        raise BadWebhookError(f"JSON nested deeper than {max_depth} levels") from exc
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, oversized integers
        raise BadWebhookError(f"not JSON: {str(exc)[:200]}") from exc
    if not _depth_at_most(document, max_depth):
        raise BadWebhookError(f"JSON nested deeper than {max_depth} levels")
    if not isinstance(document, dict):
        raise BadWebhookError("not a changeNotificationCollection: not a JSON object")
    items = document.get("value")
    if not isinstance(items, list) or not items:
        raise BadWebhookError(
            "not a changeNotificationCollection: no 'value' array of notifications"
        )
    found = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadWebhookError(f"value[{index}] is not a JSON object")
        subscription_id = _required(item, "subscriptionId", index)
        resource = item.get("resourceData")
        if resource is not None and not isinstance(resource, dict):
            raise BadWebhookError(f"value[{index}].resourceData is not a JSON object")
        found.append(
            Notification(
                subscription_id=subscription_id,
                client_state=_string(item, "clientState", index),
                change_type=_string(item, "changeType", index),
                lifecycle_event=_string(item, "lifecycleEvent", index),
                message_id=None if resource is None else _string(resource, "id", index),
            )
        )
    return found
