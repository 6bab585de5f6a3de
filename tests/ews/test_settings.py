"""Exchange settings: credentials must fit the authentication chosen, secrets stay secret."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mfr.ews import EwsConnection, ExchangeSettings


def test_basic_and_ntlm_need_a_password() -> None:
    """A password-based scheme without a password is refused at start-up."""
    with pytest.raises(ValidationError, match="needs a password"):
        ExchangeSettings(service_account="svc", auth="ntlm")


def test_oauth_needs_the_app_registration() -> None:
    """App-only OAuth names what is missing."""
    with pytest.raises(ValidationError, match="needs tenant_id, client_secret"):
        ExchangeSettings(service_account="app", auth="oauth", client_id="c")


def test_the_password_never_appears_in_text() -> None:
    """Settings and the connection built from them do not reveal the password."""
    settings = ExchangeSettings(
        service_account="svc", auth="basic", password="s3cret!",  # type: ignore[arg-type]
        endpoint="http://127.0.0.1:1/EWS/Exchange.asmx",  # type: ignore[arg-type]
    )
    connection = EwsConnection(settings)
    assert "s3cret!" not in repr(settings)
    assert "s3cret!" not in str(settings.model_dump())
    assert connection.budget("Alice@X.com") == "svc"
