"""The HTTP API of Graph subscriptions: ``POST/GET /subscriptions``, ``GET/PATCH/DELETE
/subscriptions/{id}`` and ``POST /subscriptions/{id}/reauthorize``.

Decisions, and the page each comes from:

- Resources: ``users/{id or upn}/messages`` and ``users/{id}/mailFolders('{id or well-known
  name}')/messages`` (outlook-change-notifications-overview.md), with or without a leading ``/``,
  ``Users`` in any case, key syntax or plain segments. ``/me`` is refused as on any app-only call.
  Query options (``$filter``, ``$select``) change what Outlook notifies and are not simulated, so
  they are refused rather than silently ignored. Creating and managing a subscription needs read
  access to the mailbox (outlook-subscription-notes.md), so the application access policy applies
  to every call (403).
- Validation: the simulator POSTs ``{url}?validationToken=...`` to the notificationUrl and the
  lifecycleNotificationUrl and creates the subscription only on 200, ``text/plain`` and the token
  itself as the body within ``validation_timeout_s``
  (change-notifications-delivery-notificationurl-validation.md: 10 s); otherwise 400
  (subscription-post-subscriptions.md). The token holds a space and a plus so that a receiver
  which does not URL-decode it fails, as the include warns.
- Expiration: at most ``subscription_max_minutes`` (4,230 for Outlook messages,
  change-notifications-subscription-lifetime.md) ahead, and in the future; otherwise 400, on
  create and on PATCH alike.
- ``clientState``: at most 128 characters. subscription.md says 128, changenotification.md 255;
  we follow subscription.md because it describes what a subscription accepts, while the other page
  describes notifications, and a client within 128 works under either reading.
- Duplicates: the offline copy is silent. Newer Microsoft docs (the "duplicate subscription
  behavior" note added to subscription-post-subscriptions.md in 2023) say a request with the same
  ``changeType`` and ``resource`` as an existing subscription fails with ``409 Conflict``,
  "Subscription Id <id> already exists for the requested combination". We apply it per
  application, comparing the resource as resolved (same mailbox and folder, however spelled).
- Quota: 1,000 active subscriptions per mailbox across all applications; over it, 403
  (change-notifications-supported-resources-expanded.md).
- Rich notifications (``includeResourceData: true``) are not simulated and are refused with a 400
  that says so; ``false`` or absent is accepted. ``notificationQueryOptions`` is Universal Print's.
- ``Prefer: IdType="ImmutableId"`` at creation makes the subscription's notifications carry
  immutable ids for its whole life (outlook-immutable-id.md).
- PATCH changes ``expirationDateTime`` only (subscription-update.md) and answers a pending
  reauthorization challenge as ``reauthorize`` does; a ``lifecycleNotificationUrl`` cannot be added
  that way (change-notifications-lifecycle-events.md).
- ``notificationUrl`` may be plain HTTP: the simulator's receivers live on loopback, where Graph's
  HTTPS rule would only get in the way.

Creating waits on the network (the handshake), so that handler is async and takes the store lock
only around store access; the others are synchronous and run under it.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from simulator.graph import subscriptions
from simulator.graph.errors import GraphError, bad_request, not_found
from simulator.graph.ids import find_folder
from simulator.graph.notifications import CHANGE_TYPES
from simulator.graph.request import GraphContext, GraphResponse, GraphRoute
from simulator.mailbox import Mailbox

CLIENT_STATE_MAX = 128
TLS_VERSIONS = ("v1_0", "v1_1", "v1_2", "v1_3")
# The subscription entity's properties in the v1.0 CSDL; anything else in a body is refused.
PROPERTIES = frozenset(
    {
        "id", "applicationId", "changeType", "clientState", "creatorId", "encryptionCertificate",
        "encryptionCertificateId", "expirationDateTime", "includeResourceData",
        "latestSupportedTlsVersion", "lifecycleNotificationUrl", "notificationQueryOptions",
        "notificationUrl", "notificationUrlAppId", "resource",
    }
)  # fmt: skip
_KEY = re.compile(r"\('([^'/]*)'\)")


def _invalid(message: str) -> GraphError:
    return bad_request(message, "InvalidRequest")


def _properties(body: dict[str, Any]) -> dict[str, Any]:
    """The body's properties without OData annotations; 400 for one the entity lacks."""
    found = {k: v for k, v in body.items() if not k.startswith("@")}
    for name in found:
        if name not in PROPERTIES:
            raise bad_request(
                f"The property '{name}' does not exist on type 'microsoft.graph.subscription'."
            )
    return found


async def create(ctx: GraphContext) -> GraphResponse:
    """``POST /subscriptions``: check, validate both URLs, create."""
    face = ctx.face
    body = _properties(ctx.request.json())
    kinds = _change_types(body.get("changeType"))
    url = _url(body, "notificationUrl")
    if url is None:
        raise _invalid("notificationUrl is required.")
    lifecycle_url = _url(body, "lifecycleNotificationUrl")
    resource = body.get("resource")
    if not isinstance(resource, str) or not resource.strip():
        raise _invalid("resource is required.")
    client_state = body.get("clientState")
    if client_state is not None and (
        not isinstance(client_state, str) or len(client_state) > CLIENT_STATE_MAX
    ):
        raise _invalid(f"clientState must be a string of at most {CLIENT_STATE_MAX} characters.")
    tls = body.get("latestSupportedTlsVersion") or "v1_2"
    if tls not in TLS_VERSIONS:
        raise _invalid(f"latestSupportedTlsVersion must be one of {', '.join(TLS_VERSIONS)}.")
    rich = body.get("includeResourceData")
    if rich is not None and not isinstance(rich, bool):
        raise _invalid("includeResourceData must be a Boolean.")
    if rich:
        raise _invalid(
            "includeResourceData is not supported by the simulator: change notifications with "
            "(encrypted) resource data are not simulated. Subscribe without it."
        )
    if body.get("notificationQueryOptions") is not None:
        raise _invalid("notificationQueryOptions is not supported for Outlook resources.")
    with face.store.lock:
        expires = expiration(ctx, body.get("expirationDateTime"))
        mailbox, folder = resolve(ctx, resource)
        face.subscriptions.check_room(ctx.principal.app_id, mailbox, folder, kinds)
    for target in (url, lifecycle_url):
        if target is not None:
            failure = await face.delivery.handshake(target, _validation_token())
            if failure is not None:
                raise GraphError(400, "ValidationError", failure)
    with face.store.lock:
        face.subscriptions.check_room(ctx.principal.app_id, mailbox, folder, kinds)
        subscription = face.subscriptions.add(
            subscriptions.GraphSubscription(
                id=str(uuid.uuid4()),
                app_id=ctx.principal.app_id,
                mailbox=mailbox,
                folder=folder,
                resource=resource,
                change_types=kinds,
                notification_url=url,
                lifecycle_url=lifecycle_url,
                client_state=client_state,
                expires=expires,
                immutable=ctx.immutable_ids,
                tls_version=tls,
                position=0,
                include_resource_data=rich,
                certificate=body.get("encryptionCertificate"),
                certificate_id=body.get("encryptionCertificateId"),
                url_app_id=body.get("notificationUrlAppId"),
            )
        )
        return _entity(ctx, subscription, 201)


def list_(ctx: GraphContext) -> GraphResponse:
    """``GET /subscriptions``: the calling application's live subscriptions."""
    mine = [s for s in ctx.face.subscriptions.live() if s.app_id == ctx.principal.app_id]
    return GraphResponse(
        {
            "@odata.context": f"{ctx.request.base_url}/$metadata#subscriptions",
            "value": [s.json() for s in mine],
        }
    )


def get(ctx: GraphContext) -> GraphResponse:
    """``GET /subscriptions/{id}``."""
    return _entity(ctx, ctx.face.subscriptions.owned(ctx), 200)


def update(ctx: GraphContext) -> GraphResponse:
    """``PATCH /subscriptions/{id}``: renew (a new expirationDateTime)."""
    subscription = ctx.face.subscriptions.owned(ctx)
    body = _properties(ctx.request.json())
    if "lifecycleNotificationUrl" in body and body["lifecycleNotificationUrl"] != (
        subscription.lifecycle_url
    ):
        raise _invalid(
            "lifecycleNotificationUrl cannot be added or changed on an existing subscription; "
            "delete the subscription and create it again with the property."
        )
    current = subscription.json()
    for name, value in body.items():
        if (
            name not in ("expirationDateTime", "lifecycleNotificationUrl")
            and value != current[name]
        ):
            raise _invalid(f"Only expirationDateTime can be updated, not {name}.")
    if "expirationDateTime" not in body:
        raise _invalid("expirationDateTime is required.")
    subscription.expires = expiration(ctx, body["expirationDateTime"])
    subscription.authorized(ctx.face.clock.monotonic())
    return _entity(ctx, subscription, 200)


def delete(ctx: GraphContext) -> GraphResponse:
    """``DELETE /subscriptions/{id}``: 204; no lifecycle notification (the app asked)."""
    subscription = ctx.face.subscriptions.owned(ctx)
    ctx.face.subscriptions.discard(subscription.id)
    return GraphResponse(None, 204)


def reauthorize(ctx: GraphContext) -> GraphResponse:
    """``POST /subscriptions/{id}/reauthorize``: 204; the expiry does not change."""
    ctx.face.subscriptions.owned(ctx).authorized(ctx.face.clock.monotonic())
    return GraphResponse(None, 204)


def routes() -> list[GraphRoute]:
    """The subscription routes."""
    return [
        GraphRoute("POST", "/subscriptions", "subscription.create", create),
        GraphRoute("GET", "/subscriptions", "subscription.list", list_),
        GraphRoute("GET", "/subscriptions/{id}", "subscription.get", get),
        GraphRoute("PATCH", "/subscriptions/{id}", "subscription.update", update),
        GraphRoute("DELETE", "/subscriptions/{id}", "subscription.delete", delete),
        GraphRoute(
            "POST", "/subscriptions/{id}/reauthorize", "subscription.reauthorize", reauthorize
        ),
    ]


# --- checks ---------------------------------------------------------------------------------
def _validation_token() -> str:
    return f"Validation: simulated Graph {uuid.uuid4()} +{secrets.token_hex(4)}"


def _change_types(raw: Any) -> frozenset[str]:
    if not isinstance(raw, str) or not raw.strip():
        raise _invalid("changeType is required.")
    kinds = [k.strip() for k in raw.split(",")]
    for kind in kinds:
        if kind not in CHANGE_TYPES:
            raise _invalid(
                f"changeType '{kind}' is not supported; use created, updated and/or deleted."
            )
    return frozenset(kinds)


def _url(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid(f"{name} must be a string.")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(f"{name} '{value}' is not an absolute HTTP(S) URL.")
    return value


def expiration(ctx: GraphContext, raw: Any) -> datetime:
    """A requested expirationDateTime, or the documented 400."""
    if not isinstance(raw, str):
        raise _invalid("expirationDateTime is required and must be a DateTimeOffset.")
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError as exc:
        raise _invalid(f"expirationDateTime '{raw}' is not a valid DateTimeOffset.") from exc
    now = ctx.face.clock.now()
    if when.tzinfo is None:
        when = when.replace(tzinfo=now.tzinfo)
    limit = ctx.face.settings.subscription_max_minutes
    if when <= now:
        raise _invalid("Subscription expiration can only be in the future.")
    if when > now + timedelta(minutes=limit):
        raise _invalid(f"Subscription expiration can only be {limit} minutes in the future.")
    return when


def resolve(ctx: GraphContext, resource: str) -> tuple[Mailbox, int | None]:
    """The mailbox and folder (None: all messages) a resource names; 404 for an unknown user or
    folder, 403 outside the application access policy."""
    if "?" in resource:
        raise _invalid(
            "Query options on the resource ($filter, $select) are not simulated; "
            "subscribe to users/{id}/messages or a folder's messages."
        )
    path = _KEY.sub(lambda m: "/" + m.group(1), resource.strip()).strip("/")
    parts = [unquote(p) for p in path.split("/")]
    lowered = [p.lower() for p in parts]
    if lowered[0] == "me":
        raise bad_request("/me request is only valid with delegated authentication flow.")
    whole = len(parts) == 3 and lowered[0] == "users" and lowered[2] == "messages"
    one_folder = (
        len(parts) == 5
        and lowered[0] == "users"
        and lowered[2:5:2]
        == [
            "mailfolders",
            "messages",
        ]
    )
    if not (whole or one_folder):
        raise _invalid(
            f"Resource '{resource}' is not supported: subscribe to users/{{id}}/messages "
            "or users/{id}/mailFolders('{id}')/messages."
        )
    mailbox = ctx.face.find_user(parts[1])
    if mailbox is None:
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{parts[1]}' is invalid.")
    ctx.principal.require_mailbox(mailbox.smtp)
    if whole:
        return mailbox, None
    folder = find_folder(mailbox, parts[3])
    if folder is None:
        raise not_found("The specified folder could not be found in the store.")
    return mailbox, folder.serial


def _entity(
    ctx: GraphContext, subscription: subscriptions.GraphSubscription, status: int
) -> GraphResponse:
    body = {"@odata.context": f"{ctx.request.base_url}/$metadata#subscriptions/$entity"}
    return GraphResponse(body | subscription.json(), status)
