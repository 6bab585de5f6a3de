"""Webhook delivery of change and lifecycle notifications (stub)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from simulator.graph.face import GraphFace


class Delivery:
    """Posts notifications from a background task on the server's event loop (stub)."""

    def __init__(self, face: GraphFace) -> None:
        self.face = face

    async def run(self) -> None:
        """Deliver until cancelled."""
        while True:
            await asyncio.sleep(3600)
