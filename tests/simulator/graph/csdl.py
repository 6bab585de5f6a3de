"""Checks JSON bodies from the Graph face against Microsoft's Graph v1.0 metadata (CSDL).

STUB: the real checker replaces ``check_body``; the interface stays.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

CHECKED: Counter[str] = Counter()


def check_body(body: Any, type_name: str | None = None) -> None:
    """Assert that ``body`` fits the CSDL: every property exists in its entity or complex type
    and has its JSON type. ``type_name`` ("microsoft.graph.message", or a collection of it as
    "Collection(microsoft.graph.message)") is inferred from ``@odata.context`` when None."""
    CHECKED["bodies"] += 1
