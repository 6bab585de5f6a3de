"""A seeded generator of realistic mailboxes: folder trees with mail and non-mail folders, and
messages with a mix of item classes, sensitivities, sizes, dates, senders and categories.

The same seed always yields the same organisation (names, folders, messages), so a demo or a
benchmark can be reproduced.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.control import Control

FIRST = (
    "Alice", "Bob", "Carla", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kemal", "Lena", "Marta", "Noor", "Oskar", "Priya", "Quentin", "Rosa", "Sven", "Tara",
    "Umar", "Vera", "Wen", "Yusuf", "Zoe",
)  # fmt: skip
LAST = (
    "Andersen", "Brown", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Horvat", "Ito",
    "Jensen", "Kowalski", "Larsen", "Moreau", "Novak", "Olsen", "Petrov", "Quinn", "Rossi",
    "Schmidt", "Tanaka", "Ueda", "Varga", "Weber", "Yilmaz", "Zhang",
)  # fmt: skip
SUBJECTS = (
    "Quarterly report", "Invoice", "Meeting notes", "Re: project plan", "Travel booking",
    "Contract draft", "Weekly update", "Budget review", "Customer feedback", "Release notes",
    "Lunch on Friday?", "Security advisory", "Fw: proposal", "Onboarding checklist",
)  # fmt: skip
CATEGORIES = ("Red category", "Blue category", "Green category", "Follow up", "Customer")
# (item class, weight): mostly notes, some Mimecast stubs, meeting requests and reports.
ITEM_CLASSES = (
    ("IPM.Note", 84), ("IPM.Note.MimecastStub", 6), ("IPM.Schedule.Meeting.Request", 4),
    ("REPORT.IPM.Note.NDR", 2), ("REPORT.IPM.Note.DR", 2), ("IPM.Note.SMIME", 2),
)  # fmt: skip
SENSITIVITIES = (("Normal", 88), ("Personal", 4), ("Private", 4), ("Confidential", 4))
# (parent, name, folder class): user folders, mail and otherwise.
FOLDERS = (
    ("inbox", "Projects", "IPF.Note"), ("/Inbox/Projects", "Alpha", "IPF.Note"),
    ("/Inbox/Projects", "Beta", "IPF.Note"), ("inbox", "Receipts", "IPF.Note"),
    ("msgfolderroot", "Clients", "IPF.Note"), ("msgfolderroot", "Newsletters", "IPF.Note"),
    ("calendar", "Team Calendar", "IPF.Appointment"), ("contacts", "Suppliers", "IPF.Contact"),
    ("tasks", "Backlog", "IPF.Task"), ("notes", "Ideas", "IPF.StickyNote"),
)  # fmt: skip
MAIL_FOLDERS = ("inbox", "inbox", "inbox", "sentitems", "deleteditems", "archive")


class Generator:
    """Builds mailboxes and messages from one seed."""

    def __init__(self, control: Control, seed: int, domain: str = "sim.example") -> None:
        self.control = control
        self.random = random.Random(seed)  # noqa: S311 - reproducible data, not secrecy
        self.domain = domain
        self.now = datetime.now(UTC).replace(microsecond=0)

    def _pick(self, weighted: tuple[tuple[str, int], ...]) -> str:
        names = [name for name, _ in weighted]
        return self.random.choices(names, weights=[w for _, w in weighted])[0]

    def person(self) -> dict[str, str]:
        """A random correspondent."""
        first, last = self.random.choice(FIRST), self.random.choice(LAST)
        domain = self.random.choice([self.domain, "example.com", "partner.example"])
        return {"name": f"{first} {last}", "email": f"{first}.{last}@{domain}".lower()}

    def mailboxes(self, count: int, password: str) -> list[str]:
        """Create ``count`` mailboxes with user folders; returns their addresses."""
        made = []
        for number in range(1, count + 1):
            first, last = FIRST[(number - 1) % len(FIRST)], LAST[(number * 7) % len(LAST)]
            smtp = f"{first}.{last}{number}@{self.domain}".lower()
            self.control.create_mailbox(smtp, f"{first} {last}", password=password)
            for parent, name, folder_class in FOLDERS:
                if self.random.random() < 0.8 or parent in ("inbox", "msgfolderroot"):
                    try:
                        self.control.create_folder(smtp, parent, name, folder_class)
                    except Exception:  # noqa: BLE001, S112 - parent skipped by chance: skip child
                        continue
            made.append(smtp)
        return made

    def message(self) -> dict[str, Any]:
        """The fields of one random message."""
        received = self.now - timedelta(seconds=self.random.randint(60, 2 * 365 * 24 * 3600))
        sender = self.person()
        return {
            "item_class": self._pick(ITEM_CLASSES),
            "subject": f"{self.random.choice(SUBJECTS)} #{self.random.randint(1, 9999)}",
            "sensitivity": self._pick(SENSITIVITIES),
            "importance": self.random.choices(["Low", "Normal", "High"], [5, 85, 10])[0],
            "size": int(min(25_000_000, self.random.lognormvariate(10, 1.3))) + 800,
            "received": received.isoformat(),
            "sent": (received - timedelta(seconds=self.random.randint(1, 600))).isoformat(),
            "is_read": self.random.random() < 0.7,
            "flag": "Flagged" if self.random.random() < 0.05 else "NotFlagged",
            "has_attachments": self.random.random() < 0.2,
            "categories": self.random.sample(CATEGORIES, k=self.random.choice([0, 0, 0, 1, 2])),
            "sender": sender,
            "to": [self.person() for _ in range(self.random.randint(1, 3))],
            "cc": [self.person() for _ in range(self.random.choice([0, 0, 1, 2]))],
        }

    def messages(self, smtp: str, count: int) -> None:
        """Fill a mailbox with ``count`` messages spread over its mail folders."""
        folders = [*MAIL_FOLDERS]
        for extra in ("/Inbox/Projects", "/Inbox/Receipts", "/Clients", "/Newsletters"):
            try:
                self.control.folder_id(smtp, extra)
            except Exception:  # noqa: BLE001, S112 - folder not generated for this mailbox
                continue
            folders.append(extra)
        for _ in range(count):
            folder = self.random.choice(folders)
            self.control.create_item(smtp, folder, new_mail=False, **self.message())


def populate(control: Control, mailboxes: int, messages: int, seed: int, domain: str,
             password: str) -> list[str]:  # fmt: skip
    """Create ``mailboxes`` mailboxes of ``messages`` messages each; returns their addresses."""
    generator = Generator(control, seed, domain)
    made = generator.mailboxes(mailboxes, password)
    for smtp in made:
        generator.messages(smtp, messages)
    return made
