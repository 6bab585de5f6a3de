"""EWS failures, translated from exchangelib at the boundary and classified retriable or fatal.

``translate`` is the one place that knows exchangelib's exception classes; everything above it
handles these. The classification follows Microsoft's pages on throttling and on notification and
synchronization errors (``../shared/reference/ews-docs/``).
"""

from __future__ import annotations

import requests
from exchangelib import errors as ews

from mfr.errors import MfrError
from mfr.reach import network_cause


class EwsError(MfrError):
    """An EWS request failed; ``code`` is Exchange's response code or the failure's class."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class EwsThrottledError(EwsError):
    """Exchange asked us to slow down; ``back_off_s`` is its BackOffMilliseconds, if it gave one."""

    retriable = True

    def __init__(self, message: str, code: str, back_off_s: float | None) -> None:
        super().__init__(message, code)
        self.back_off_s = back_off_s


class EwsUnavailableError(EwsError):
    """The server or the network failed in a way that usually passes: try again later."""

    retriable = True


class EwsAccessDeniedError(EwsError):
    """Credentials or impersonation rights are missing: retrying cannot help until an admin acts."""


class EwsNotFoundError(EwsError):
    """The mailbox, folder or item does not exist (any more)."""


class EwsSyncStateInvalidError(EwsError):
    """The saved SyncState is no longer accepted: sync the folder again from scratch."""


class EwsSubscriptionLostError(EwsError):
    """The subscription or its watermark is gone: subscribe again, and resync what was missed."""


class EwsRequestRejectedError(EwsError):
    """Exchange refused the request itself; a bug or an unsupported server, not a passing state."""


_THROTTLED = (ews.ErrorServerBusy, ews.ErrorTooManyObjectsOpened,
              ews.ErrorExceededConnectionCount, ews.ErrorExceededSubscriptionCount,
              ews.ErrorExceededFindCountLimit, ews.RateLimitError)
_UNAVAILABLE = (ews.ErrorTimeoutExpired, ews.ErrorInternalServerTransientError,
                ews.ErrorMailboxMoveInProgress, ews.ErrorConnectionFailed,
                ews.ErrorConnectionFailedTransientError, ews.ErrorProxyRequestProcessingFailed,
                ews.ErrorInternalServerError, ews.ErrorCorruptData, ews.MalformedResponseError)
_DENIED = (ews.ErrorImpersonateUserDenied, ews.ErrorImpersonationFailed, ews.ErrorAccessDenied,
           ews.UnauthorizedError)
_NOT_FOUND = (ews.ErrorItemNotFound, ews.ErrorFolderNotFound, ews.ErrorNonExistentMailbox,
              ews.ErrorSyncFolderNotFound)
_SUBSCRIPTION = (ews.ErrorSubscriptionNotFound, ews.ErrorInvalidWatermark,
                 ews.ErrorInvalidSubscription, ews.ErrorMissedNotificationEvents,
                 ews.ErrorExpiredSubscription, ews.ErrorInvalidPullSubscriptionId,
                 ews.ErrorReadEventsFailed, ews.ErrorProxiedSubscriptionCallFailure)


def translate(exc: BaseException, doing: str) -> EwsError:
    """The ``EwsError`` for a failure of ``doing`` ("SyncFolderItems for alice@contoso.com")."""
    code = type(exc).__name__
    message = f"{doing}: {code}: {_summary(exc)}"
    untrusted = _untrusted_certificate(exc)
    if untrusted is not None:
        # Retriable like any connection failure (the certificate may be fixed on the server's
        # side), but said so that the admin knows the setting: requests buries it in a pool error.
        return EwsUnavailableError(
            f"{doing}: Exchange's certificate is not trusted ({untrusted}); set [exchange] "
            "ca_file to the CA that signed it", "CertificateNotTrusted")
    unreachable = network_cause(exc)
    if unreachable is not None:
        # exchangelib words a DNS failure as "No valid version headers found in response" and
        # a refused connection as ErrorServerBusy: the cause, from deep in the chain or its
        # text, is what the operator needs.
        return EwsUnavailableError(f"{doing}: {unreachable[1]}", unreachable[0])
    if isinstance(exc, _THROTTLED):
        back_off = getattr(exc, "back_off", None) or getattr(exc, "wait", None)
        return EwsThrottledError(f"{message} (throttled)", code,
                                 float(back_off) if back_off else None)
    if isinstance(exc, _DENIED):
        return EwsAccessDeniedError(f"{message} ({_denied(exc)})", code)
    kinds: tuple[tuple[tuple[type[BaseException], ...], type[EwsError]], ...] = (
        (_DENIED, EwsAccessDeniedError),
        (_NOT_FOUND, EwsNotFoundError),
        ((ews.ErrorInvalidSyncStateData,), EwsSyncStateInvalidError),
        (_SUBSCRIPTION, EwsSubscriptionLostError),
        (_UNAVAILABLE, EwsUnavailableError),
        # exchangelib's response errors all subclass TransportError (below); a request the schema
        # refuses is refused again byte for byte, so it is no passing failure.
        ((ews.ErrorSchemaValidation,), EwsRequestRejectedError),
        ((requests.RequestException, ConnectionError, TimeoutError), EwsUnavailableError),
        ((ews.TransportError,), EwsUnavailableError),
    )
    for classes, kind in kinds:
        if isinstance(exc, classes):
            return kind(message, code)
    return EwsRequestRejectedError(message, code)


def _denied(exc: BaseException) -> str:
    if isinstance(exc, ews.UnauthorizedError):
        return "401 unauthorized: Exchange refused the service account's credentials"
    if isinstance(exc, ews.ErrorImpersonateUserDenied | ews.ErrorImpersonationFailed):
        return "403 impersonation denied: the service account may not impersonate this mailbox"
    return "403 access denied"


def _untrusted_certificate(exc: BaseException) -> str | None:
    """The verification failure's reason when ``exc`` is a refused server certificate."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" not in text:
        return None
    reason = text.rpartition("certificate verify failed:")[2].split("(_ssl")[0]
    return reason.strip(" )'\"") or "verify failed"


def _summary(exc: BaseException) -> str:
    # exchangelib puts whole HTTP bodies in some messages; a log line needs the first sentence.
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else "no detail"
