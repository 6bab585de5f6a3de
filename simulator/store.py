"""The simulated organisation: mailboxes spread over back-end servers, accounts, subscriptions.

One re-entrant lock guards everything: the HTTP handlers and the Python control API of a test run in
different threads, and each takes the lock for the whole of an operation.
"""

from __future__ import annotations

import threading
import zlib

from simulator.accounts import Account, Accounts
from simulator.clock import Clock
from simulator.errors import SimulatorError
from simulator.mailbox import Mailbox
from simulator.model import Address
from simulator.subscriptions import Subscriptions


class Store:
    """Every mailbox, account and subscription the simulator holds."""

    def __init__(self, clock: Clock, backends: list[str]) -> None:
        if not backends:
            raise SimulatorError("at least one back-end server is needed")
        self.lock = threading.RLock()
        self.clock = clock
        self.backends = list(backends)
        self.accounts = Accounts()
        self.subscriptions = Subscriptions()
        self.mailboxes: dict[int, Mailbox] = {}
        self._by_smtp: dict[str, Mailbox] = {}

    def create_mailbox(
        self,
        smtp: str,
        name: str | None = None,
        *,
        password: str | None = None,
        backend: str | None = None,
    ) -> Mailbox:
        """Create a mailbox (and a login for its owner when a password is given)."""
        with self.lock:
            if smtp.lower() in self._by_smtp:
                raise SimulatorError(f"mailbox {smtp} already exists")
            if backend is None:
                # Spread mailboxes over back-ends by address, stably across runs.
                backend = self.backends[zlib.crc32(smtp.lower().encode()) % len(self.backends)]
            elif backend not in self.backends:
                raise SimulatorError(f"unknown back-end {backend!r}; known: {self.backends}")
            address = Address(name or smtp.partition("@")[0].replace(".", " ").title(), smtp)
            mailbox = Mailbox(len(self.mailboxes) + 1, address, backend, self.clock)
            self.mailboxes[mailbox.number] = mailbox
            self._by_smtp[smtp.lower()] = mailbox
            if password is not None:
                self.accounts.add(Account(name=smtp, password=password, mailbox=smtp))
            return mailbox

    def mailbox(self, smtp: str) -> Mailbox | None:
        """A mailbox by SMTP address (case-insensitive)."""
        return self._by_smtp.get(smtp.strip().lower())

    def require(self, smtp: str) -> Mailbox:
        """A mailbox by SMTP address, or SimulatorError."""
        mailbox = self.mailbox(smtp)
        if mailbox is None:
            raise SimulatorError(f"no mailbox {smtp}")
        return mailbox

    def add_service_account(
        self,
        name: str,
        *,
        password: str | None = None,
        tokens: set[str] | None = None,
        impersonate: set[str] | None = None,
    ) -> Account:
        """Add a login that owns no mailbox, with the impersonation right for ``impersonate``."""
        with self.lock:
            account = Account(
                name=name,
                password=password,
                tokens=set(tokens or ()),
                impersonate=set(impersonate or ()),
            )
            return self.accounts.add(account)
