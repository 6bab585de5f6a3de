"""The publisher's errors, in the project's tree."""

from __future__ import annotations

from mfr.errors import MfrError


class PublisherError(MfrError):
    """Base of the publisher's errors."""


class ArchiveUnavailableError(PublisherError):
    """The archive did not take the batch this time (down, overloaded, refusing the token)."""

    retriable = True

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class BatchRefusedError(PublisherError):
    """The archive refused the batch as a whole (too large, not a batch): retrying it as it is
    cannot help; a smaller batch may."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason


class StoppedError(PublisherError):
    """The publisher was asked to stop while waiting for the archive."""
