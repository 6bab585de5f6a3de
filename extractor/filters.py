"""Which folders and messages are replicated (MISSION.md's defaults, configurable)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from extractor.model import FolderSnapshot, ItemSnapshot
from mfr.settings import Section


class Verdict(StrEnum):
    """What to do with an item."""

    REPLICATE = "replicate"
    SKIP = "skip"  # not a message we replicate (meeting request, report...): never shown
    WITHHOLD = "withhold"  # Personal or Private: never shown, withdrawn if it was


class FilterSettings(Section):
    """What is replicated. Comparisons ignore case, as Exchange's do."""

    folder_classes: list[str] = Field(default=["IPF.Note"], min_length=1)
    item_classes: list[str] = Field(default=["IPM.Note", "IPM.Note.MimecastStub"], min_length=1)
    withheld_sensitivities: list[str] = Field(default=["Personal", "Private"])

    def replicates_folder(self, folder: FolderSnapshot) -> bool:
        """Whether the folder is a mail folder we replicate."""
        wanted = {c.lower() for c in self.folder_classes}
        return (folder.folder_class or "").lower() in wanted

    def verdict(self, item: ItemSnapshot) -> Verdict:
        """Whether the item is replicated, skipped, or withheld for its sensitivity."""
        if (item.sensitivity or "").lower() in {s.lower() for s in self.withheld_sensitivities}:
            return Verdict.WITHHOLD
        if (item.item_class or "").lower() not in {c.lower() for c in self.item_classes}:
            return Verdict.SKIP
        return Verdict.REPLICATE
