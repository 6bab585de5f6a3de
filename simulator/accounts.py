"""Who may log in, how, and whom they may impersonate."""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass, field


@dataclass(slots=True)
class Account:
    """A login: a password (Basic) and/or OAuth bearer tokens, an optional own mailbox, and the
    mailboxes it may impersonate (``"*"`` for all, as the ApplicationImpersonation role without a
    management scope grants)."""

    name: str
    password: str | None = None
    tokens: set[str] = field(default_factory=set)
    mailbox: str | None = None
    impersonate: set[str] = field(default_factory=set)

    def may_impersonate(self, smtp: str) -> bool:
        """Whether this account holds the impersonation right for ``smtp``."""
        return "*" in self.impersonate or smtp.lower() in self.impersonate


class Accounts:
    """The directory of accounts, keyed by lower-case login name."""

    def __init__(self) -> None:
        self._by_name: dict[str, Account] = {}
        self._by_token: dict[str, Account] = {}

    def add(self, account: Account) -> Account:
        """Add or replace an account."""
        account.impersonate = {s.lower() for s in account.impersonate}
        self._by_name[account.name.lower()] = account
        for token in account.tokens:
            self._by_token[token] = account
        return account

    def get(self, name: str) -> Account | None:
        """An account by login name."""
        return self._by_name.get(name.lower())

    def authenticate(self, authorization: str | None) -> Account | None:
        """The account an Authorization header proves, or None (answered with 401)."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return self._bearer(value.strip())
        if scheme.lower() != "basic":
            return None
        return self._basic(value)

    def _bearer(self, value: str) -> Account | None:
        found = None
        for token, account in self._by_token.items():
            if hmac.compare_digest(token.encode(), value.encode()):
                found = account
        return found

    def _basic(self, value: str) -> Account | None:
        try:
            user, _, password = (
                base64.b64decode(value.strip(), validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        # Accept DOMAIN\user and user@domain spellings of the same login, as IIS does.
        account = self.get(user) or self.get(user.rpartition("\\")[2])
        if account is None or account.password is None:
            return None
        return account if hmac.compare_digest(account.password, password) else None
