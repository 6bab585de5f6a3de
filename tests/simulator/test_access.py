"""Authentication, impersonation and affinity, as exchangelib and raw clients meet them."""

from __future__ import annotations

import httpx
import pytest
from exchangelib.errors import ErrorImpersonateUserDenied, UnauthorizedError
from lxml import etree

from simulator import Simulator
from tests.simulator.conftest import AccountFactory, new_smtp
from tests.simulator.raw import M, T, code, envelope, post

GET_INBOX = (
    "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape>"
    "<m:FolderIds><t:DistinguishedFolderId Id='inbox'/></m:FolderIds></m:GetFolder>"
)


def test_impersonation_allowed_and_denied(
    sim: Simulator, smtp: str, account: AccountFactory
) -> None:
    """A service account may impersonate the mailboxes in its scope and is refused others with
    ErrorImpersonateUserDenied (impersonation-and-ews-in-exchange.md)."""
    other = new_smtp(sim)
    sim.add_service_account("scoped@sim.example", "pw", impersonate={smtp})
    assert account(smtp, user="scoped@sim.example", password="pw").inbox.name == "Inbox"
    with pytest.raises(ErrorImpersonateUserDenied):
        account(other, user="scoped@sim.example", password="pw").inbox.refresh()
    denied = sim.request_log.entries(mailbox=other)[-1]
    assert denied.result == "ErrorImpersonateUserDenied"


def test_wrong_password_is_401(sim: Simulator, smtp: str, account: AccountFactory) -> None:
    """Bad or missing credentials get HTTP 401, which exchangelib reports as UnauthorizedError."""
    with pytest.raises(UnauthorizedError):
        account(smtp, user=sim.service_account, password="wrong").inbox.refresh()
    bare = httpx.post(sim.endpoint_url, content=envelope(GET_INBOX, impersonate=smtp))
    assert bare.status_code == 401
    assert "Basic" in bare.headers["www-authenticate"]


def test_oauth_bearer_token_and_own_mailbox(sim: Simulator, smtp: str) -> None:
    """An OAuth bearer token authenticates the service account; a user reaches their own mailbox
    with Basic credentials and no impersonation."""
    token = {"Authorization": f"Bearer {sim.service_token}"}
    assert code(post(sim, envelope(GET_INBOX, impersonate=smtp), token)) == "NoError"
    bad = post(sim, envelope(GET_INBOX, impersonate=smtp), {"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    own = httpx.post(
        sim.endpoint_url, content=envelope(GET_INBOX), auth=(smtp, "pw-" + smtp), timeout=10
    )
    assert code(own) == "NoError"


def _subscribe(sim: Simulator, smtp: str, headers: dict[str, str]) -> httpx.Response:
    body = (
        "<m:Subscribe><m:StreamingSubscriptionRequest SubscribeToAllFolders='true'>"
        "<t:EventTypes><t:EventType>CreatedEvent</t:EventType></t:EventTypes>"
        "</m:StreamingSubscriptionRequest></m:Subscribe>"
    )
    return post(sim, envelope(body, impersonate=smtp), headers)


def _id(response: httpx.Response) -> str:
    return str(etree.fromstring(response.content).findtext(f".//{{{M}}}SubscriptionId"))


def test_streaming_connection_mixing_back_ends_fails(sim: Simulator) -> None:
    """Subscriptions live on the back-end the request reached (X-AnchorMailbox + X-PreferServer-
    Affinity, then X-BackEndOverrideCookie); a GetStreamingEvents mixing back-ends answers
    ErrorSubscriptionNotFound for the foreign ones
    (how-to-maintain-affinity-between-group-of-subscriptions-and-mailbox-server.md)."""
    first, second = sim.settings.backends[0], sim.settings.backends[1]
    alice = new_smtp(sim, backend=first)
    sadie = new_smtp(sim, backend=first)
    bob = new_smtp(sim, backend=second)
    anchor = {"X-AnchorMailbox": alice, "X-PreferServerAffinity": "true"}
    response = _subscribe(sim, alice, anchor)
    cookie = response.cookies["X-BackEndOverrideCookie"]
    assert cookie.startswith(first)
    grouped = anchor | {"Cookie": f"X-BackEndOverrideCookie={cookie}"}
    ids = [_id(response), _id(_subscribe(sim, sadie, grouped))]
    foreign = _id(_subscribe(sim, bob, {"X-AnchorMailbox": bob, "X-PreferServerAffinity": "true"}))
    body = (
        "<m:GetStreamingEvents><m:SubscriptionIds>"
        + "".join(f"<t:SubscriptionId>{i}</t:SubscriptionId>" for i in [*ids, foreign])
        + "</m:SubscriptionIds><m:ConnectionTimeout>1</m:ConnectionTimeout></m:GetStreamingEvents>"
    )
    mixed = post(sim, envelope(body, impersonate=alice), grouped)
    assert code(mixed) == "ErrorSubscriptionNotFound"
    failed = etree.fromstring(mixed.content).findall(f".//{{{T}}}SubscriptionId")
    assert [e.text for e in failed] == [foreign]
