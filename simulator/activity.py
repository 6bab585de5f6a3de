"""Live activity at a given rate: new mail, reads, flags, moves and deletes in random mailboxes.

Runs in a thread of its own, seeded, so a demo shows a steady trickle of changes.
"""

from __future__ import annotations

import random
import threading

import structlog

from simulator.control import Control
from simulator.errors import SimulatorError
from simulator.generator import Generator

log = structlog.get_logger(__name__)


class Activity:
    """Applies random user actions to ``mailboxes`` at ``rate`` actions per second."""

    def __init__(self, control: Control, mailboxes: list[str], rate: float, seed: int) -> None:
        self.control = control
        self.mailboxes = mailboxes
        self.rate = rate
        self.random = random.Random(seed)  # noqa: S311 - reproducible activity, not secrecy
        self.generator = Generator(control, seed + 1)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.actions = 0

    def start(self) -> None:
        """Start acting in the background."""
        if self.rate <= 0 or not self.mailboxes:
            return
        self._thread = threading.Thread(target=self._run, name="sim-activity", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop acting."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(1.0 / self.rate):
            try:
                self.step()
            except SimulatorError as exc:
                log.info("activity step skipped", reason=str(exc))

    def step(self) -> str:
        """Perform one random action; returns its name."""
        smtp = self.random.choice(self.mailboxes)
        items = [i for i in self.control.ground_truth(smtp)["items"] if i["deleted"] is None]
        roll = self.random.random()
        if roll < 0.5 or not items:
            self.control.create_item(smtp, "inbox", **self.generator.message())
            name = "new mail"
        else:
            item = self.random.choice(items)["id"]
            if roll < 0.7:
                self.control.update_item(smtp, item, is_read=True)
                name = "read"
            elif roll < 0.75:
                self.control.update_item(smtp, item, flag="Flagged")
                name = "flag"
            elif roll < 0.85:
                self.control.move_item(smtp, item, self.random.choice(["archive", "inbox"]))
                name = "move"
            elif roll < 0.95:
                self.control.delete_item(smtp, item, "MoveToDeletedItems")
                name = "delete"
            else:
                self.control.delete_item(smtp, item, "SoftDelete")
                name = "soft delete"
        self.actions += 1
        return name
