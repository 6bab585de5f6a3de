"""The drift check: does the archive still hold, folder by folder, what Exchange holds?

Sync states are Exchange's word on what changed, and the pipeline trusts them; two things can
still leave the archive different from the mailbox: a sync that moved past a change without
reporting it, and the archive losing rows behind the pipeline's back (a restore, a manual
delete). Neither shows in the extractor's own memory, so the check compares the two ends: per
replicated folder, the number of messages Exchange holds that the filters replicate (judged
by each message's class and sensitivity, not the folder's total count, which also counts the
meeting requests and Private messages that are never replicated) against the number the
archive shows in that folder (``GET /api/ingest/v1/counts/{mailbox}`` with an ingest token).
A folder that differs, and still differs once the archive had ``settle_s`` to ingest what was
in flight, is read again from scratch (``MailboxSync``'s rescan). Each check is reported to the
archive, whose admin page shows it.

It runs inside a mailbox's own sync cycle (``SyncRequest.drift``), after the cycle caught up
with Exchange, so the extractor's side is settled and the check never races the mailbox's own
cycles; every extractor checks the mailboxes it owns, every ``interval_s``. Both APIs count the
same way, 1,000 messages a request: EWS with FindItem (IdOnly plus item class and sensitivity),
Graph with the folder's message list (``$select=id`` plus the two as extended properties). So a
check costs one request per 1,000 messages per folder, and one archive request (two with a
difference). A reader that cannot count (``Reader.classes`` answers None; none of ours) is
counted ``unsupported`` and left alone.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import structlog
from pydantic import Field, SecretStr

from extractor.filters import FilterSettings, Verdict
from extractor.model import ItemSnapshot
from extractor.reader import NOT_FOUND
from mfr.settings import Section
from mfr.tls import client_context, pinned_context

if TYPE_CHECKING:
    from extractor.hierarchy import FolderTree
    from extractor.reader import Reader

log = structlog.get_logger(__name__)


class DriftSettings(Section):
    """``[extractor.drift]``: how often, and where the archive's counts are read."""

    interval_s: float = Field(default=3600.0, ge=0,
                              description="seconds between checks of each mailbox; 0: never")
    settle_s: float = Field(default=10.0, ge=0, description="a difference is looked at again "
                            "after this long (the archive may still be ingesting)")
    archive_url: str | None = Field(default=None, description="the archive's base URL; unset: "
                                    "no drift check (mfr run sets its own)")
    archive_token: SecretStr | None = Field(
        default=None, description="secret: MFR_EXTRACTOR__DRIFT__ARCHIVE_TOKEN, an ingest token")
    ca_file: Path | None = Field(default=None, description="CA of the archive's certificate")
    pinned_cert: Path | None = Field(default=None,
                                     description="trust exactly this certificate (mfr run)")

    @property
    def enabled(self) -> bool:
        """Whether checks run at all."""
        return bool(self.interval_s and self.archive_url and self.archive_token)


@dataclass(frozen=True)
class Drift:
    """A folder whose message count differs between Exchange and the archive."""

    folder_key: str
    exchange: int
    archive: int


class ArchiveCounts:
    """The archive's side of the check, over its ingest API (blocking)."""

    def __init__(self, settings: DriftSettings, transport: httpx.BaseTransport | None = None
                 ) -> None:
        token = settings.archive_token.get_secret_value() if settings.archive_token else ""
        verify: ssl.SSLContext = pinned_context(settings.pinned_cert) if settings.pinned_cert \
            else client_context(settings.ca_file)
        self._http = httpx.Client(base_url=settings.archive_url or "", timeout=30.0,
                                  headers={"Authorization": f"Bearer {token}"}, verify=verify,
                                  transport=transport)

    def counts(self, mailbox: str) -> dict[str, int]:
        """Messages the archive shows per folder key (live and deleted, not withdrawn)."""
        answer = self._http.get(f"/api/ingest/v1/counts/{quote(mailbox)}")
        answer.raise_for_status()
        return {str(k): int(v) for k, v in answer.json()["folders"].items()}

    def report(self, mailbox: str, checked: int, drifts: list[Drift]) -> None:
        """Tell the archive what a check found (its admin page shows the last one)."""
        body: dict[str, Any] = {"mailbox": mailbox, "checked": checked, "differing": [
            {"folder_key": d.folder_key, "exchange": d.exchange, "archive": d.archive}
            for d in drifts]}
        self._http.post("/api/ingest/v1/drift", json=body).raise_for_status()

    def close(self) -> None:
        """Close the connections."""
        self._http.close()


class DriftCheck:
    """Compares one mailbox's folder counts; shared by the cycles of every mailbox."""

    def __init__(self, archive: ArchiveCounts, settings: DriftSettings,
                 counted: Callable[[str, int], None] = lambda result, folders: None,
                 stop: threading.Event | None = None) -> None:
        self._archive = archive
        self._settle_s = settings.settle_s
        self._counted = counted  # (result, folders differing): for the metrics
        self._stop = stop or threading.Event()

    def differing(self, reader: Reader, tree: FolderTree, filters: FilterSettings) -> list[Drift]:
        """The mailbox's replicated folders whose counts differ; none when the check cannot run
        (it is a repair, never a reason to fail the cycle)."""
        try:
            found = self._compare(reader, tree, filters)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log.warning("drift check failed", mailbox=reader.mailbox, error=str(exc))
            self._counted("failed", 0)
            return []
        if found is None:  # a reader that cannot count (ours all can): nothing to compare
            self._counted("unsupported", 0)
            return []
        self._counted("drift" if found else "same", len(found))
        return found

    def _compare(self, reader: Reader, tree: FolderTree, filters: FilterSettings
                 ) -> list[Drift] | None:
        exchange: dict[str, int] = {}
        for folder_id, state in sorted(tree.states.items()):
            if state.gone:
                continue
            try:
                classes = reader.classes(folder_id)
            except NOT_FOUND:
                # Gone since the tree was read (Graph hears of that only from its periodic tree
                # check): nothing to compare, and no reason to fail the cycle over it.
                log.info("drift check: folder gone", mailbox=reader.mailbox, folder=folder_id)
                continue
            if classes is None:
                return None
            exchange[state.folder_key] = sum(
                1 for item_class, sensitivity in classes
                if filters.verdict(ItemSnapshot("", folder_id, item_class,
                                                sensitivity=sensitivity)) is Verdict.REPLICATE)
        found = _differences(exchange, self._archive.counts(reader.mailbox))
        if found:
            if self._stop.wait(self._settle_s):
                return []  # stopping: the next check looks again
            found = _differences({d.folder_key: d.exchange for d in found},
                                 self._archive.counts(reader.mailbox))
        self._archive.report(reader.mailbox, len(exchange), found)
        if found:
            log.warning("archive drifted from Exchange", mailbox=reader.mailbox,
                        folders={d.folder_key: (d.exchange, d.archive) for d in found})
        return found


def _differences(exchange: dict[str, int], archive: dict[str, int]) -> list[Drift]:
    return [Drift(key, count, archive.get(key, 0)) for key, count in sorted(exchange.items())
            if archive.get(key, 0) != count]


def drift_check(settings: DriftSettings, counted: Callable[[str, int], None],
                stop: threading.Event) -> DriftCheck | None:
    """The check the settings ask for; None when it is off (no archive to compare with)."""
    if not settings.enabled:
        log.info("drift check off: [extractor.drift] names no archive (or interval_s = 0)")
        return None
    return DriftCheck(ArchiveCounts(settings), settings, counted, stop)
