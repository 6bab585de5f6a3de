"""Sign-in with an OpenID Provider, end to end in headless Chromium against a real one
(oidc-provider from npm, over TLS, started once for the module): a user lands in their own
mailbox and no other, a group makes an admin, and ID tokens for another audience, from another
issuer or with a forged signature are refused with the reason, never a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from pydantic import SecretStr

from archive.accounts import add_token
from archive.settings import ArchiveSettings, OidcSettings
from archive.store.engine import open_engine
from archive.web.app import create_app
from tests.archive.records import batch, folder, message
from tests.archive.server import ThreadedServer
from tests.archive.test_ui import ALICE, browser, shot
from tests.kafka.broker import free_port
from tests.oidc.provider import OidcProvider

__all__ = ["browser"]  # the shared headless Chromium, one per module
BOB = "bob@example.com"
CLIENT_ID = "mfr-archive"


@dataclass
class OidcArchive:
    """An archive whose sign-in page offers the provider."""

    url: str
    provider: OidcProvider


@pytest.fixture(scope="module")
def oidc_archive(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcArchive]:
    """The provider (accounts alice, and carol in the mail-admins group) and an archive on
    SQLite holding Alice's and Bob's mailboxes."""
    work = tmp_path_factory.mktemp("oidc")
    port = free_port()
    provider = OidcProvider(
        work=work,
        client_id=CLIENT_ID,
        client_secret="a client secret for the tests",
        redirect_uri=f"http://127.0.0.1:{port}/login/oidc/callback",
        accounts={
            "alice": {"email": "Alice@Example.com"},
            "carol": {"email": "carol@example.com", "groups": ["staff", "mail-admins"]},
        },
    )
    provider.start()
    settings = ArchiveSettings(
        database_url=SecretStr(f"sqlite:///{work / 'archive.sqlite3'}"),
        cookie_secure=False,
        audit_log=work / "audit.jsonl",
        oidc=OidcSettings(
            issuer=provider.issuer,
            client_id=CLIENT_ID,
            client_secret=SecretStr(provider.client_secret),
            scopes="openid email groups",
            ca_file=provider.ca_file,
            admin_groups=("mail-admins",),
        ),
    )
    engine = open_engine(settings.database_url.get_secret_value())
    server = ThreadedServer(create_app(settings, engine, purge=False), port=port)
    server.start()
    records = [folder(m, "inbox", 1, display_name="Inbox", distinguished_name="inbox")
               for m in (ALICE, BOB)]
    records += [message(ALICE, "a1", 1, subject="Alice's plan"),
                message(BOB, "b1", 1, subject="Bob's secret plan")]
    reply = httpx.post(f"{server.url}/api/ingest/v1/batches", json=batch(*records),
                       headers={"Authorization": f"Bearer {add_token(engine, 'test')}"})
    assert reply.status_code == 200, reply.text
    try:
        yield OidcArchive(server.url, provider)
    finally:
        server.stop()
        engine.dispose()
        provider.stop()


def new_context(browser: Browser) -> BrowserContext:
    """A fresh browser profile. Only the browser skips checking the provider's certificate
    (made for this run); the archive's own calls to the provider check it against its CA."""
    return browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 720})


def provider_login(page: Page, login: str) -> None:
    """The provider's own sign-in form."""
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", "anything")
    page.click("button[type=submit]")


def test_user_signs_in_with_the_provider_and_sees_only_their_mailbox(
    browser: Browser, oidc_archive: OidcArchive
) -> None:
    """Alice goes from the sign-in page to the provider (code flow, PKCE S256, nonce, state)
    and back into her mailbox; Bob's is refused; Carol, in the admin group, is an admin."""
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{oidc_archive.url}/login")
    shot(page, "33-oidc-sign-in-page")
    with page.expect_request(lambda r: r.url.startswith(f"{oidc_archive.provider.issuer}/auth?")
                             ) as asked:
        page.click("#sign-in-oidc")
    for parameter in ("response_type=code", "code_challenge_method=S256", "code_challenge=",
                      "nonce=", "state="):
        assert parameter in asked.value.url, parameter
    assert page.url.startswith(oidc_archive.provider.issuer)
    provider_login(page, "alice")
    expect(page.locator("#messages")).to_contain_text("Alice's plan")
    assert page.url == f"{oidc_archive.url}/mailbox/{ALICE}"
    shot(page, "34-oidc-signed-in-own-mailbox")
    me = page.request.get(f"{oidc_archive.url}/api/v1/session").json()
    assert me == {"username": ALICE, "is_admin": False, "mailboxes": [ALICE]}
    refused = page.goto(f"{oidc_archive.url}/mailbox/{BOB}")
    assert refused is not None
    assert refused.status == 403
    expect(page.locator("body")).not_to_contain_text("Bob's secret plan")
    assert page.request.get(f"{oidc_archive.url}/api/v1/mailboxes/{BOB}/folders").status == 403
    context.close()

    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{oidc_archive.url}/login/oidc")
    provider_login(page, "carol")
    expect(page.locator("#admin-link")).to_be_visible()
    assert page.request.get(f"{oidc_archive.url}/api/v1/session").json()["is_admin"] is True
    context.close()
    audit = (oidc_archive.provider.work / "audit.jsonl").read_text()
    assert '"event": "sign_in", "user": "carol@example.com"' in audit
    assert '"method": "oidc"' in audit


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("aud", " was issued for another application"),
        ("iss", " comes from an issuer this archive does not trust"),
        ("sig", "'s signature does not verify against the identity provider's published keys"),
    ],
)
def test_misaddressed_or_forged_id_tokens_are_refused(
    browser: Browser, oidc_archive: OidcArchive, mode: str, reason: str
) -> None:
    """The token response carries an ID token for another audience, from another issuer, or
    signed with another key: the sign-in page says why with a 401, and nobody is signed in."""
    context = new_context(browser)
    page = context.new_page()
    oidc_archive.provider.tamper(mode)
    page.goto(f"{oidc_archive.url}/login/oidc")
    with page.expect_response(lambda r: "/login/oidc/callback" in r.url) as answer:
        provider_login(page, "alice")
    assert answer.value.status == 401
    expect(page.locator(".error")).to_contain_text(f"Sign-in refused: the identity token{reason}")
    assert page.request.get(f"{oidc_archive.url}/api/v1/session").status == 401
    if mode == "sig":
        shot(page, "35-oidc-forged-token-refused")
    context.close()


def test_a_callback_without_its_sign_in_is_refused(oidc_archive: OidcArchive) -> None:
    """A callback the archive did not start (no state in the session): 400 with the reason."""
    reply = httpx.get(f"{oidc_archive.url}/login/oidc/callback", params={"code": "x", "state": "y"})
    assert reply.status_code == 400
    assert "did not sign you in" in reply.text
