"""An Exchange that cannot be reached is named for what it is, in one line: exchangelib words a
DNS failure as "No valid version headers" and a refused connection as ErrorServerBusy."""

from __future__ import annotations

import pytest
from pydantic import AnyHttpUrl, SecretStr

from listener.subscriber import Subscriber
from mfr.ews import EwsConnection
from mfr.ews.errors import EwsUnavailableError
from mfr.ews.settings import ExchangeSettings, ServerVersion
from mfr.reach import probe
from mfr.retry import RetryPolicy
from tests.kafka.broker import free_port


def _subscribe(endpoint: str, version: ServerVersion | None) -> EwsUnavailableError:
    settings = ExchangeSettings(endpoint=AnyHttpUrl(endpoint), auth="basic",
                                service_account="svc", password=SecretStr("pw"), version=version)
    connection = EwsConnection(settings, policy=RetryPolicy(attempts=1))
    with pytest.raises(EwsUnavailableError) as caught:
        Subscriber(connection, ["NewMailEvent"]).subscribe_streaming("a@contoso.com")
    return caught.value


def test_a_name_that_does_not_resolve_is_a_dns_failure() -> None:
    """A host name that does not resolve says DNS, and which name."""
    error = _subscribe("http://mfr-no-such-host.invalid/EWS/Exchange.asmx", None)
    assert error.code == "DnsFailure"
    assert "DNS: cannot resolve mfr-no-such-host.invalid" in str(error)
    assert "No valid version headers" not in str(error)
    assert probe("http://mfr-no-such-host.invalid/") == (
        str(error).partition(": ")[2])


def test_a_refused_connection_is_a_connection_failure_not_throttling() -> None:
    """Nothing listening: "refused the connection", with the address, not ErrorServerBusy."""
    port = free_port()
    error = _subscribe(f"http://127.0.0.1:{port}/EWS/Exchange.asmx", "Exchange2016")
    assert error.code == "ConnectionFailed"
    cause = f"connection: 127.0.0.1:{port} refused the connection"
    assert str(error).endswith(cause)
    assert probe(f"http://127.0.0.1:{port}/") == cause
