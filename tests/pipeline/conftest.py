"""Fixtures of the pipeline tests: a live archive served for real (the publisher tests' own)."""

from __future__ import annotations

from tests.publisher.conftest import archive

__all__ = ["archive"]
