"""Change events as the listener writes them, for driving the extractor in tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any


def change_event(mailbox: str, event_type: str, target: str = "Mailbox", **fields: Any
                 ) -> dict[str, Any]:
    """A ChangeEvent datum."""
    now = datetime.now(UTC)
    return {"event_id": str(uuid.uuid4()), "mailbox": mailbox, "event_type": event_type,
            "target": target, "source": "Streaming", "event_time": now, "received_time": now,
            **fields}
