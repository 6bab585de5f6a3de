"""Delta queries for mailFolders and per-folder messages (stub)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from simulator.graph.request import GraphRoute

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace


class DeltaTokens:
    """Which delta tokens are still valid (stub)."""


def routes() -> list[GraphRoute]:
    """The delta routes."""
    return []


def controls(face: GraphFace) -> dict[str, Callable[..., Any]]:
    """Control actions of this part."""
    return {}
