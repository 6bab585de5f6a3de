"""Graph's error shape, raised by any handler and answered by the face.

Every Graph error is JSON ``{"error": {"code", "message", "innerError": {...}}}`` with an HTTP
status (concepts/errors.md). Handlers raise ``GraphError``; the face turns it into a response,
so no handler builds error bodies itself.
"""

from __future__ import annotations

from mfr.errors import MfrError


class GraphError(MfrError):
    """One Graph error answer: HTTP ``status``, top-level ``code``, ``message``, extra headers."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def bad_request(message: str, code: str = "BadRequest") -> GraphError:
    """400 for a request Graph cannot parse or does not support."""
    return GraphError(400, code, message)


def not_found(message: str, code: str = "ErrorItemNotFound") -> GraphError:
    """404 for an object that does not exist (Outlook's codes start with Error)."""
    return GraphError(404, code, message)
