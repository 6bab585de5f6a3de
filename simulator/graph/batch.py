"""JSON batching: ``POST /$batch`` (stub)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulator.graph.request import GraphRoute

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace


def routes() -> list[GraphRoute]:
    """The batch route."""
    return []


def controls(face: GraphFace) -> dict[str, Callable[..., Any]]:
    """Control actions of this part."""
    return {}
