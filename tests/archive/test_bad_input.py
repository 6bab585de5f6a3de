"""No 5xx from bad input: out-of-range numbers, cursors and times get 400 or 404 with a reason,
deeply nested or huge JSON 400 or 413, and every answer (errors and crashes included) carries
the security headers."""

from __future__ import annotations

import base64

import httpx
import pytest

from archive.settings import ArchiveSettings
from archive.web.app import create_app
from tests.archive.conftest import PASSWORD, RunningArchive
from tests.archive.records import batch, folder, message
from tests.archive.server import ThreadedServer

ALICE = "alice@example.com"
HUGE = "99999999999999999999999"
HEADERS = ("x-content-type-options", "x-frame-options", "content-security-policy")
# Only the out-of-range numbers reach the database (whose integer limits differ): both run it.
both_databases = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def cursor_of(text: str) -> str:
    """A cursor as the archive encodes one."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def secured(reply: httpx.Response) -> httpx.Response:
    """``reply``, after checking it carries the security headers."""
    for name in HEADERS:
        assert name in reply.headers, (reply.status_code, reply.request.url, name)
    return reply


@both_databases
def test_out_of_range_numbers_and_times_get_4xx_with_a_reason(archive: RunningArchive) -> None:
    """A 23-digit message id (API and ?message=), a cursor holding one, and times outside the
    years 1-9999 in UTC: 404 or 400 naming the problem, never 500."""
    stored = archive.ingest(batch(folder(ALICE, "inbox", 1), message(ALICE, "a1", 1)))
    assert stored.status_code == 200
    base = f"/api/v1/mailboxes/{ALICE}"
    with archive.client(ALICE) as client:
        reply = secured(client.get(f"{base}/messages/{HUGE}"))
        assert reply.status_code == 404
        assert reply.json()["detail"] == "no such message in this mailbox"
        assert secured(client.get(f"{base}/messages/-{HUGE}")).status_code == 404
        for raw in (f"{HUGE}:1", f"1:{HUGE}", f"-{HUGE}:1", "1:-1"):
            reply = secured(client.get(f"{base}/messages", params={"cursor": cursor_of(raw)}))
            assert reply.status_code == 400, raw
            assert "cursor" in reply.json()["detail"]
        page = secured(client.get(f"/mailbox/{ALICE}", params={"message": HUGE}))
        assert page.status_code == 200
        assert "Subject a1" in page.text
        for name in ("at", "received_from", "received_to"):
            for bad in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
                reply = secured(client.get(f"{base}/messages", params={name: bad}))
                assert reply.status_code == 400, (name, bad)
                assert name in reply.json()["detail"]
                assert "outside the years 1 to 9999" in reply.json()["detail"]
        reply = secured(client.get(f"{base}/folders", params={"at": "0001-01-01T00:00:00+14:00"}))
        assert reply.status_code == 400
        for bad in ("yesterday", HUGE, "2026-13-40"):
            reply = secured(client.get(f"{base}/folders", params={"at": bad}))
            assert reply.status_code == 400, bad
            assert reply.json()["detail"].startswith("query.at:")
        reply = secured(client.get(f"{base}/messages", params={"limit": HUGE}))
        assert reply.status_code == 400
        page = client.get(f"/mailbox/{ALICE}", params={"at": "0001-01-01T00:00:00+14:00"})
        assert secured(page).status_code == 400  # the UI says why too (issue 15)
        assert "outside the years 1 to 9999" in page.text


@sqlite_only
def test_deeply_nested_or_huge_json_gets_400_or_413(archive: RunningArchive) -> None:
    """JSON nested 100,000 levels to the ingest API: 400; to the sign-in: 413 (over the small
    limit of every non-ingest body), as is a huge one; nested within the limit: 400."""
    nested = b"[" * 100_000 + b"]" * 100_000
    reply = secured(
        httpx.post(
            f"{archive.url}/api/ingest/v1/batches",
            content=b'{"records": ' + nested + b"}",
            headers={"Authorization": f"Bearer {archive.token}",
                     "Content-Type": "application/json"},
        )
    )
    assert reply.status_code == 400
    assert "nested too deeply" in reply.json()["detail"]
    session = f"{archive.url}/api/v1/session"
    json_type = {"Content-Type": "application/json"}
    assert secured(httpx.post(session, content=nested, headers=json_type)).status_code == 413
    huge = b'{"username": "' + b"a" * 1_000_000 + b'", "password": "x"}'
    assert secured(httpx.post(session, content=huge, headers=json_type)).status_code == 413

    def chunks() -> object:
        yield huge

    streamed = httpx.post(session, content=chunks(), headers=json_type)  # type: ignore[arg-type]
    assert secured(streamed).status_code == 413
    within = b'{"username": ' + b"[" * 20_000 + b"]" * 20_000 + b', "password": "x"}'
    assert secured(httpx.post(session, content=within, headers=json_type)).status_code == 400


@sqlite_only
def test_every_answer_carries_the_security_headers_even_a_crash(
    settings: ArchiveSettings,
) -> None:
    """200, 303, 401, 403, 404, 405 and a route that crashes (500) all carry the headers; the
    500 tells nothing of the crash."""
    app = create_app(settings, purge=False)

    def boom() -> None:
        raise RuntimeError("secret detail of a crash")

    app.add_api_route("/boom", boom)
    server = ThreadedServer(app)
    server.start()
    try:
        url = server.url
        assert secured(httpx.get(f"{url}/healthz")).status_code == 200
        assert secured(httpx.get(f"{url}/")).status_code == 303
        assert secured(httpx.get(f"{url}/api/v1/session")).status_code == 401
        evil = {"Origin": "http://evil.example"}
        assert secured(httpx.delete(f"{url}/api/v1/session", headers=evil)).status_code == 403
        assert secured(httpx.get(f"{url}/nowhere")).status_code == 404
        assert secured(httpx.put(f"{url}/healthz")).status_code == 405
        crash = secured(httpx.get(f"{url}/boom"))
        assert crash.status_code == 500
        assert "secret detail" not in crash.text
        assert secured(httpx.post(f"{url}/api/v1/session", json={"username": ALICE,
                                                                  "password": PASSWORD}))
    finally:
        server.stop()
        app.state.archive.engine.dispose()


@both_databases
def test_filters_searches_conversations_and_exports_get_4xx_not_500(
    archive: RunningArchive,
) -> None:
    """The mailbox page and its exports with every filter on work on both databases; a NUL
    anywhere in a URL (PostgreSQL cannot compare text holding one), a day or time outside the
    years 1-9999, a conversation id no message has or could have, a value no filter takes:
    4xx, never 500."""
    a1 = message(ALICE, "a1", 1, conversation_id="c1", has_attachments=True,
                 flag_status="Flagged")
    stored = archive.ingest(batch(folder(ALICE, "inbox", 1), a1))
    assert stored.status_code == 200
    page, export = f"/mailbox/{ALICE}", f"/api/v1/mailboxes/{ALICE}/export.json"
    every = {"q": "a1", "sender": "carol", "since": "2000-01-01", "until": "2100-01-01",
             "unread": "1", "flagged": "1", "attachments": "1", "sort": "-size"}
    with archive.client(ALICE) as client:
        assert "Subject a1" in secured(client.get(page, params=every)).text
        found = secured(client.get(export, params=every)).json()
        assert [m["subject"] for m in found] == ["Subject a1 v1"]
        assert secured(client.get(export, params={"deleted": "only"})).json() == []
        assert len(secured(client.get(export, params={"conversation": 1})).json()) == 1
        for route in (page, export):
            for params in ({"q": "a\x00b"}, {"sender": "\x00"}, {"folder": "x\x00"},
                           {"since": "0001-01-01T00:00:00+14:00"}, {"until": "9999-12-31"},
                           {"since": "2026-13-40"}, {"conversation": HUGE},
                           {"conversation": "99999"}, {"deleted": "maybe"}, {"unread": "yes"},
                           {"scope": "everywhere"}):
                reply = secured(client.get(route, params=params))
                assert 400 <= reply.status_code < 500, (route, params, reply.status_code)
        for api in ("messages", "search"):  # the browse API's own searches too
            reply = secured(client.get(f"/api/v1/mailboxes/{ALICE}/{api}", params={"q": "a\x00"}))
            assert reply.status_code == 400, api


@both_databases
def test_a_nul_in_a_form_or_a_replicated_text_is_no_500(archive: RunningArchive) -> None:
    """PostgreSQL holds no NUL in a text. A form carrying one is refused (400); a subject or a
    folder name carrying one (Graph's JSON can) is stored with U+FFFD in its place, not lost."""
    nul_subject = message(ALICE, "n1", 1, subject="before\x00after")
    stored = archive.ingest(batch(folder(ALICE, "inbox", 1, display_name="In\x00box"), nul_subject))
    assert stored.status_code == 200, stored.text
    with archive.client(ALICE) as client:
        page = secured(client.get(f"/mailbox/{ALICE}"))
        assert "before\ufffdafter" in page.text
        assert "In\ufffdbox" in page.text
    with httpx.Client(base_url=archive.url) as anonymous:
        for form in ({"username": "al\x00ice", "password": "x"},
                     {"username": ALICE, "password": "pass\x00word"}):
            reply = secured(anonymous.post("/login", data=form))
            assert reply.status_code == 400, (form, reply.status_code)
            assert "NUL" in reply.text
