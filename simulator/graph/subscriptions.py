"""Graph change-notification subscriptions (stub)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulator.graph.request import GraphRoute

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace


class GraphSubscriptions:
    """Every live Graph subscription (stub)."""

    def __init__(self, face: GraphFace) -> None:
        self.face = face


def routes() -> list[GraphRoute]:
    """The subscription routes."""
    return []


def controls(face: GraphFace) -> dict[str, Callable[..., Any]]:
    """Control actions of this part."""
    return {}
