"""Graph reads: users, mailFolders, childFolders, messages (stub: the user only so far)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulator.graph.ids import user_id
from simulator.graph.request import GraphContext, GraphResponse, GraphRoute

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace


def get_user(ctx: GraphContext) -> GraphResponse:
    """``GET /users/{id | userPrincipalName}``."""
    mailbox = ctx.target()
    return GraphResponse(
        {
            "@odata.context": f"{ctx.request.base_url}/$metadata#users/$entity",
            "id": user_id(mailbox.smtp),
            "displayName": mailbox.address.name,
            "mail": mailbox.smtp,
            "userPrincipalName": mailbox.smtp,
        }
    )


def routes() -> list[GraphRoute]:
    """The read routes."""
    return [GraphRoute("GET", "/users/{user}", "user.get", get_user)]


def controls(face: GraphFace) -> dict[str, Callable[..., Any]]:
    """Control actions of this part (none)."""
    return {}
