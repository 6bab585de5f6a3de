"""Tokens in the web UI's forms, against cross-site request forgery.

Every state-changing request also passes the same-origin check in ``guards.py``; the token is the
second lock, for browsers or proxies that drop Origin and Referer. It is random per session (the
sign-in form gets one before anyone signs in), kept in the signed session cookie, and compared in
constant time.
"""

from __future__ import annotations

import hmac
import secrets

from fastapi import Request

STALE_FORM = "This form has expired or did not come from this site: reload the page and try again."


def form_token(request: Request) -> str:
    """The session's form token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def form_token_ok(request: Request, submitted: str) -> bool:
    """Whether a submitted form carries this session's token."""
    expected = request.session.get("csrf")
    return (
        isinstance(expected, str)
        and bool(expected)
        and hmac.compare_digest(expected.encode(), submitted.encode())
    )
