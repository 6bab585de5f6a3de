"""The archive's own errors, in the project's tree."""

from __future__ import annotations

from mfr.errors import MfrError


class ArchiveError(MfrError):
    """Base of the archive's errors."""


class StoreUnavailableError(ArchiveError):
    """The database cannot be reached or is busy; the request can be retried."""

    retriable = True


class AccountError(ArchiveError):
    """A user or token cannot be created or changed as asked."""
