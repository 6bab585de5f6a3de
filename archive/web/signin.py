"""One sign-in attempt, the same for the API and the form: the lockout's check, the identity
provider, the audit log, the metric, then the session.

The lockout is asked first, so an account being guessed at answers "too many failed sign-ins"
whether or not the password is right; the identity provider is asked only when the attempt is
allowed, and a thread is never held asleep to slow anyone down.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from archive.accounts import Principal
from archive.lockout import Refusal, account_scope, address_scope
from archive.web.context import client_address, context, sign_in, sign_out


@dataclass(frozen=True)
class Refused:
    """A sign-in that did not happen: the HTTP status, what to tell the person, and when a
    throttled attempt may come back."""

    status: int
    message: str
    retry_after_s: int | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Retry-After on a throttled answer."""
        return {} if self.retry_after_s is None else {"Retry-After": str(self.retry_after_s)}


def attempt_sign_in(request: Request, username: str, password: str) -> Principal | Refused:
    """Try ``username``/``password`` from this request's client; on success the session is
    started."""
    ctx = context(request)
    client = client_address(request)
    scopes = (account_scope(username), address_scope(client))
    user = scopes[0].removeprefix("account:")
    refusal = ctx.lockout.begin(scopes)
    if refusal is not None:
        return _throttled(request, user, client, refusal)
    principal = ctx.identity.authenticate(username, password)
    if principal is None:
        ctx.metrics.sign_ins.labels("refused").inc()
        ctx.audit.record("sign_in_failed", user=user, client=client)
        for scope in ctx.lockout.failed(scopes):
            ctx.audit.record("lockout", user=user, client=client, scope=scope)
        return Refused(401, "Unknown user or wrong password.")
    ctx.lockout.succeeded(scopes)
    ctx.metrics.sign_ins.labels("ok").inc()
    ctx.audit.record("sign_in", user=principal.username, client=client)
    sign_in(request, principal)
    return principal


def attempt_sign_out(request: Request) -> None:
    """End the session (if any) and say so in the audit log."""
    who = sign_out(request)
    if who is not None:
        context(request).audit.record("sign_out", user=who, client=client_address(request))


def _throttled(request: Request, user: str, client: str, refusal: Refusal) -> Refused:
    ctx = context(request)
    ctx.metrics.sign_ins.labels("locked" if refusal.locked else "throttled").inc()
    ctx.audit.record(
        "sign_in_locked" if refusal.locked else "sign_in_throttled",
        user=user,
        client=client,
        retry_after_s=refusal.retry_after_s,
    )
    return Refused(429, refusal.message, refusal.retry_after_s)
