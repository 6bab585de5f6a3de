"""exchangelib accounts for the replicated mailboxes, all through one service account.

Every EWS call goes through ``EwsConnection.call``: it runs under the process's ``Throttle`` and
the retry policy, and translates exchangelib's exceptions. exchangelib itself is told to fail fast,
so its own hidden retries never bypass our back-off accounting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from exchangelib import (
    BASIC,
    IMPERSONATION,
    NTLM,
    OAUTH2,
    Account,
    Build,
    Configuration,
    Credentials,
    OAuth2Credentials,
    Version,
)
from exchangelib.errors import SessionPoolMinSizeReached
from exchangelib.protocol import FailFast
from exchangelib.version import EXCHANGE_2013, EXCHANGE_2016, EXCHANGE_2019, EXCHANGE_O365
from pydantic import SecretStr

from mfr.errors import ConfigError
from mfr.ews.errors import EwsError, EwsUnavailableError
from mfr.ews.retry import call
from mfr.ews.settings import ExchangeSettings
from mfr.ews.transport import install as read_in_chunks
from mfr.ews.trust import trust
from mfr.retry import RetryPolicy
from mfr.throttle import Throttle
from mfr.topics import normalise_mailbox

T = TypeVar("T")

_BUILDS: dict[str, Build] = {
    "Exchange2013": EXCHANGE_2013,
    "Exchange2016": EXCHANGE_2016,
    "Exchange2019": EXCHANGE_2019,
    "ExchangeOnline": EXCHANGE_O365,
}
_AUTH = {"basic": BASIC, "ntlm": NTLM, "oauth": OAUTH2}


def _credentials(settings: ExchangeSettings) -> Any:
    if settings.auth == "oauth":
        return OAuth2Credentials(
            client_id=settings.client_id,
            client_secret=_secret(settings.client_secret, "client_secret"),
            tenant_id=settings.tenant_id,
        )
    return Credentials(settings.service_account, _secret(settings.password, "password"))


def _secret(value: SecretStr | None, name: str) -> str:
    if value is None:
        raise ConfigError(f"exchange.{name} is not set")
    return value.get_secret_value()


def _refuse_to_shrink() -> None:
    raise SessionPoolMinSizeReached("mfr.ews keeps the session pool; it does the back-off")


def keep_pool(protocol: Any) -> None:
    """Stop exchangelib from shrinking ``protocol``'s HTTP session pool after ErrorServerBusy or
    ErrorExceededConnectionCount. exchangelib 5.6 shrinks it under a lock that it then takes
    again when no session is idle, and the thread hangs for good; backing off is the Throttle's
    job anyway. exchangelib treats the refusal as "already at the minimum" and raises the
    server's error, which the retry policy handles."""
    protocol.decrease_poolsize = _refuse_to_shrink


class EwsConnection:
    """The service account's access to every mailbox, shared by the threads of one process."""

    def __init__(
        self,
        settings: ExchangeSettings,
        throttle: Throttle | None = None,
        policy: RetryPolicy | None = None,
        hanging_connections: int = 0,
    ) -> None:
        """``hanging_connections``: how many HTTP connections long-lived requests (streaming
        notifications) may hold besides the ``max_concurrent_requests`` of ordinary calls; the
        HTTP session pool is sized for both, so a hanging request never starves the others."""
        self.settings = settings
        read_in_chunks()  # before the first session is made (see mfr/ews/transport.py)
        self.stopping = threading.Event()  # set by ``stop``: retries end at their next pause
        # A back-off Exchange asked for (ErrorServerBusy) can last minutes: a stopping service
        # must not sit it out, so the throttle's waits end when ``stopping`` is set too.
        self.throttle = throttle or Throttle(settings.max_concurrent_requests, sleep=self._pause)
        self.policy = policy or RetryPolicy()
        if settings.ca_file is not None:
            trust(str(settings.endpoint) if settings.endpoint else None, settings.ca_file)
        version = Version(build=_BUILDS[settings.version]) if settings.version else None
        self._config = (
            Configuration(
                service_endpoint=str(settings.endpoint),
                credentials=_credentials(settings),
                auth_type=_AUTH[settings.auth],
                version=version,
                retry_policy=FailFast(),
                max_connections=settings.max_concurrent_requests + hanging_connections,
            )
            if settings.endpoint
            else None
        )
        self._accounts: dict[str, Account] = {}
        self._lock = threading.Lock()

    def stop(self) -> None:
        """End every retry pause at once (the service is stopping); calls fail from then on."""
        self.stopping.set()

    def _pause(self, seconds: float) -> None:
        if self.stopping.wait(seconds):
            raise EwsUnavailableError("stopped while Exchange's back-off lasted", "Stopping")

    def account(self, mailbox: str) -> Account:
        """The impersonated account of ``mailbox`` (made once, then reused)."""
        mailbox = normalise_mailbox(mailbox)
        with self._lock:
            account = self._accounts.get(mailbox)
        if account is None:
            account = self.call(mailbox, f"opening {mailbox}", lambda: self._open(mailbox))
            with self._lock:
                account = self._accounts.setdefault(mailbox, account)
        return account

    def _open(self, mailbox: str) -> Account:
        if self._config is not None:
            account = Account(
                primary_smtp_address=mailbox,
                config=self._config,
                autodiscover=False,
                access_type=IMPERSONATION,
            )
        else:
            account = Account(
                primary_smtp_address=mailbox,
                credentials=_credentials(self.settings),
                autodiscover=True,
                access_type=IMPERSONATION,
            )
        keep_pool(account.protocol)
        return account

    def budget(self, mailbox: str) -> str:
        """The throttling budget requests for ``mailbox`` are charged to."""
        if self.settings.backoff_scope == "mailbox":
            return normalise_mailbox(mailbox)
        return self.settings.service_account

    def call(
        self,
        mailbox: str,
        doing: str,
        operation: Callable[[], T],
        on_retry: Callable[[EwsError, int], None] | None = None,
    ) -> T:
        """Run a blocking EWS operation for ``mailbox`` politely; see ``mfr.ews.retry.call``.

        Get the account (``account()``) before, not inside ``operation``: opening one may itself
        need a request slot, and this call already holds one, so with every slot busy it would
        wait for itself."""
        return call(
            operation,
            doing=doing,
            budget=self.budget(mailbox),
            throttle=self.throttle,
            policy=self.policy,
            on_retry=on_retry,
            stopping=self.stopping,
        )
