"""The tenant's token endpoint in the shape of Microsoft's identity platform (stub)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace


def routes(face: GraphFace) -> list[BaseRoute]:
    """The authority's routes."""
    return []
