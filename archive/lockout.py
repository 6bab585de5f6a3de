"""Failed sign-ins slow down, then lock, per account and per client address.

Guessing passwords online must cost time. Each scope (an account name, a client address) counts
its recent failures. The first ``sign_in_free_failures`` cost nothing (people mistype); after that
each attempt must wait a delay that doubles with every failure (``sign_in_delay_s`` up to
``sign_in_max_delay_s``), and an attempt that comes too early is refused without checking the
password, so a guess in that window proves nothing even if it is right. At ``sign_in_lock_after``
failures an account is locked for ``sign_in_lock_minutes`` (an address at
``sign_in_address_lock_after``: many users may share one behind a NAT); an admin can lift a lock
early. Failures are forgotten once the last one is older than the lock time.

Account names are counted whether or not such a user exists, so the answers never tell which
names are real. An attempt is counted as a failure *before* the password is checked and taken back
if it was right: parallel guesses cannot slip through the check together.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, case, delete, select, update
from sqlalchemy.exc import IntegrityError

from archive.settings import ArchiveSettings
from archive.store.access_tables import sign_in_failures as failures_table
from mfr.topics import normalise_mailbox


@dataclass(frozen=True)
class Refusal:
    """Why an attempt is refused before its password is checked, and when to come back."""

    locked: bool
    retry_after_s: int

    @property
    def message(self) -> str:
        """What the person signing in reads."""
        if self.locked:
            return (
                "Too many failed sign-ins: sign-in is locked for "
                f"{_spell(self.retry_after_s)}, or until an admin unlocks it."
            )
        return f"Too many failed sign-ins: try again in {_spell(self.retry_after_s)}."


@dataclass(frozen=True)
class Lock:
    """A scope that is locked or being slowed down (the admin page lists them)."""

    scope: str
    failures: int
    last_failure_time: int
    locked_until: int | None


def account_scope(username: str) -> str:
    """The scope counting failures of one account name."""
    return "account:" + normalise_mailbox(username)[:300]


def address_scope(address: str) -> str:
    """The scope counting failures from one client address."""
    return "address:" + address[:300]


class Lockout:
    """The failure counters of the archive's database, under the archive's settings."""

    def __init__(self, engine: Engine, settings: ArchiveSettings) -> None:
        self._engine = engine
        self._settings = settings
        self._mutex = threading.Lock()  # check-and-count is one step within this process

    def begin(self, scopes: tuple[str, str]) -> Refusal | None:
        """Before checking a password: a refusal, or None after counting the attempt as a
        failure in each scope (``succeeded`` takes that back)."""
        now = _now_ms()
        with self._mutex, self._engine.begin() as conn:
            for scope in scopes:
                refusal = self._refusal(conn, scope, now)
                if refusal is not None:
                    return refusal
            for scope in scopes:
                _count(conn, scope, now, self._window_ms)
        return None

    def failed(self, scopes: tuple[str, str]) -> list[str]:
        """The password was wrong: lock the scopes that reached their limit; returns them."""
        now = _now_ms()
        locked: list[str] = []
        with self._engine.begin() as conn:
            for scope in scopes:
                row = _row(conn, scope)
                limit = self._lock_after(scope)
                if row is None or row.failures < limit:
                    continue
                if row.locked_until is not None and row.locked_until > now:
                    continue
                until = now + self._window_ms
                conn.execute(
                    update(failures_table)
                    .where(failures_table.c.scope == scope)
                    .values(locked_until=until)
                )
                locked.append(scope)
        return locked

    def succeeded(self, scopes: tuple[str, str]) -> None:
        """The password was right: the account starts afresh; the address gets its attempt
        back (other accounts' failures from it still count)."""
        account, address = scopes
        with self._engine.begin() as conn:
            conn.execute(delete(failures_table).where(failures_table.c.scope == account))
            conn.execute(
                update(failures_table)
                .where(failures_table.c.scope == address, failures_table.c.failures > 0)
                .values(failures=failures_table.c.failures - 1)
            )

    def unlock(self, name: str) -> int:
        """Lift the lock and forget the failures of an account name or a client address;
        returns how many scopes were cleared."""
        wanted = {account_scope(name), address_scope(name.strip())}
        with self._engine.begin() as conn:
            return int(
                conn.execute(delete(failures_table).where(failures_table.c.scope.in_(wanted)))
                .rowcount
            )

    def current(self) -> list[Lock]:
        """Scopes locked now or past their free failures, most failures first."""
        now = _now_ms()
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(failures_table)
                .where(
                    (failures_table.c.last_failure_time >= now - self._window_ms)
                    | (failures_table.c.locked_until > now)
                )
                .order_by(failures_table.c.failures.desc())
                .limit(500)
            )
            return [
                Lock(r.scope, r.failures, r.last_failure_time, r.locked_until)
                for r in rows
                if r.failures > self._free(r.scope) or (r.locked_until or 0) > now
            ]

    @property
    def _window_ms(self) -> int:
        return int(self._settings.sign_in_lock_minutes * 60_000)

    def _free(self, scope: str) -> int:
        if scope.startswith("address:"):
            return self._settings.sign_in_address_free_failures
        return self._settings.sign_in_free_failures

    def _lock_after(self, scope: str) -> int:
        if scope.startswith("address:"):
            return self._settings.sign_in_address_lock_after
        return self._settings.sign_in_lock_after

    def _refusal(self, conn: Connection, scope: str, now: int) -> Refusal | None:
        row = _row(conn, scope)
        if row is None:
            return None
        if row.locked_until is not None and row.locked_until > now:
            return Refusal(locked=True, retry_after_s=_seconds(row.locked_until - now))
        if now - row.last_failure_time > self._window_ms:
            return None  # forgotten
        excess = row.failures - self._free(scope)
        if excess < 0:
            return None
        delay_s = min(
            self._settings.sign_in_delay_s * 2**min(excess, 30), self._settings.sign_in_max_delay_s
        )
        ready = row.last_failure_time + int(delay_s * 1000)
        if now < ready:
            return Refusal(locked=False, retry_after_s=_seconds(ready - now))
        return None


def _row(conn: Connection, scope: str) -> Row[Any] | None:
    return conn.execute(select(failures_table).where(failures_table.c.scope == scope)).first()


def _count(conn: Connection, scope: str, now: int, window_ms: int) -> None:
    """One more failure in ``scope``; failures older than the window are forgotten first."""
    table = failures_table
    stale = table.c.last_failure_time < now - window_ms
    fresh = (table.c.locked_until.is_(None)) | (table.c.locked_until <= now)
    changed = conn.execute(
        update(table)
        .where(table.c.scope == scope)
        .values(
            failures=case((stale & fresh, 1), else_=table.c.failures + 1),
            last_failure_time=now,
        )
    ).rowcount
    if changed:
        return
    try:
        with conn.begin_nested():
            conn.execute(table.insert().values(scope=scope, failures=1, last_failure_time=now))
    except IntegrityError:  # another process counted first
        conn.execute(
            update(table).where(table.c.scope == scope).values(failures=table.c.failures + 1)
        )


def _seconds(millis: int) -> int:
    return max(1, -(-millis // 1000))


def _spell(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    return f"{-(-seconds // 60)} min"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
