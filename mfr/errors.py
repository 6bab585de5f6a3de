"""Every error the pipeline raises on purpose, in one tree.

Foreign exceptions (avro, kafka-python, sqlite3, httpx, exchangelib) are translated into these
by the module that calls the foreign library, so callers only ever handle ``MfrError``. Each class
says whether trying again can help (``retriable``), as Debezium classifies its errors: a retriable
error pauses and retries; a fatal one dead-letters the record or stops with a clear message.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class MfrError(Exception):
    """Base of every error raised by the pipeline on purpose."""

    retriable: ClassVar[bool] = False


class ConfigError(MfrError):
    """The settings are missing, contradictory or invalid; the process cannot start."""


class CodecProblem(StrEnum):
    """Why a record could not be encoded or decoded."""

    NOT_SINGLE_OBJECT = "not single-object encoded"
    TRUNCATED = "truncated"
    UNKNOWN_FINGERPRINT = "unknown schema fingerprint"
    CORRUPT = "corrupt body"
    INVALID_DATUM = "datum does not match the schema"
    UNKNOWN_SCHEMA = "unknown schema name"


class CodecError(MfrError):
    """A record could not be encoded or decoded; ``problem`` says why."""

    def __init__(self, problem: CodecProblem, detail: str) -> None:
        super().__init__(f"{problem.value}: {detail}")
        self.problem = problem
        self.detail = detail


class BusError(MfrError):
    """The event bus failed an operation; nothing was committed by the failed call."""


class BusUnavailableError(BusError):
    """The bus cannot be reached right now (broker down, database locked); try again later."""

    retriable = True


class CommitFailedError(BusError):
    """Offsets could not be committed (for example after a rebalance): the records will be
    delivered again, so processing them again must be harmless."""

    retriable = True
