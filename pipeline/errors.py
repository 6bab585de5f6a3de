"""Errors of the single-machine compositions."""

from __future__ import annotations

from mfr.errors import MfrError


class PipelineError(MfrError):
    """The pipeline could not be composed or run (a port taken, a target not empty...)."""
