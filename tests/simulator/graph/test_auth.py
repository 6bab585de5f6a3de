"""App-only auth over real HTTP: the token endpoint (secret and certificate assertions), its
Entra-shaped errors, the discovery documents, and the checks every Graph call makes on its token
(401) and on the application access policy (403)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa

from mfr.certs import self_signed_rsa
from simulator import Simulator, SimulatorSection
from simulator.graph.auth import CLOCK_SKEW_S
from simulator.graph.ids import user_id
from simulator.settings import GraphSection
from tests.simulator.conftest import new_smtp
from tests.simulator.graph.conftest import check_response

SCOPE = "https://graph.microsoft.com/.default"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def token_url(sim: Simulator, tenant: str | None = None) -> str:
    return f"{sim.url}/{tenant or sim.settings.graph.tenant_id}/oauth2/v2.0/token"


def secret_form(sim: Simulator, **changes: str | None) -> dict[str, str]:
    graph = sim.settings.graph
    form: dict[str, str | None] = {
        "grant_type": "client_credentials",
        "client_id": graph.client_id,
        "client_secret": graph.client_secret.get_secret_value(),
        "scope": SCOPE,
        **changes,
    }
    return {k: v for k, v in form.items() if v is not None}


def assert_entra_error(response: httpx.Response, status: int, error: str, code: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"] == error
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert body["error_codes"] == [code]
    assert body["trace_id"] in body["error_description"]
    assert body["correlation_id"] in body["error_description"]
    assert body["timestamp"].endswith("Z")
    assert response.headers["cache-control"].startswith("no-store")


@pytest.fixture
def graph_get(sim: Simulator) -> Iterator[Any]:
    """GET a Graph path with a given Authorization header (None: none), bodies CSDL-checked."""
    with httpx.Client(base_url=sim.graph_url, event_hooks={"response": [check_response]}) as http:

        def get(path: str, authorization: str | None) -> httpx.Response:
            headers = {} if authorization is None else {"Authorization": authorization}
            return http.get(path, headers=headers)

        yield get


@pytest.fixture
def cert_app(sim: Simulator) -> dict[str, Any]:
    """An application registered through the control API with a new certificate."""
    answer = httpx.post(f"{sim.url}/control/graph/register_app", json={"new_certificate": True})
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()["result"]
    return result


def assertion(
    app: dict[str, Any],
    audience: str,
    *,
    sha256: bool = False,
    key_pem: str | None = None,
    header: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A client assertion as msal makes one: RS256 + x5t, or PS256 + x5t#S256."""
    now = time.time()
    payload = {
        "aud": audience,
        "iss": app["client_id"],
        "sub": app["client_id"],
        "exp": now + 600,
        "iat": now,
        "jti": str(uuid.uuid4()),
        **claims,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    sha1_hex = app["thumbprints"][0]
    if sha256:
        cert = x509.load_pem_x509_certificate(app["certificate_pem"].encode())
        name, digest, algorithm = "x5t#S256", cert.fingerprint(hashes.SHA256()), "PS256"
    else:
        name, digest, algorithm = "x5t", bytes.fromhex(sha1_hex), "RS256"
    headers: dict[str, Any] = {name: jwt.utils.base64url_encode(digest).decode()}
    headers.update(header or {})
    headers = {k: v for k, v in headers.items() if v is not None}
    return jwt.encode(payload, key_pem or app["private_key_pem"], algorithm, headers=headers)


def assertion_form(app: dict[str, Any], signed: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": app["client_id"],
        "scope": SCOPE,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": signed,
    }


# --- the token endpoint ---------------------------------------------------------------------------
def test_a_client_secret_gets_a_token_that_reads_a_mailbox(
    sim: Simulator, smtp: str, graph_get: Any
) -> None:
    answer = httpx.post(token_url(sim), data=secret_form(sim))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] == sim.settings.graph.token_lifetime_s
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == sim.settings.graph.tenant_id
    assert claims["appid"] == sim.settings.graph.client_id
    assert claims["roles"] == ["Mail.Read"]
    assert claims["idtyp"] == "app"
    assert claims["exp"] - claims["iat"] == sim.settings.graph.token_lifetime_s
    read = graph_get(f"/users/{smtp}", f"Bearer {body['access_token']}")
    assert read.status_code == 200
    logged = sim.request_log.entries(operation="graph.token")[-1]
    assert (logged.status, logged.account) == (200, sim.settings.graph.client_id)


@pytest.mark.parametrize("tenant", ["simtenant.onmicrosoft.com", "SIM.EXAMPLE", "guid"])
def test_the_tenant_may_be_named_by_guid_or_domain(sim: Simulator, tenant: str) -> None:
    named = sim.settings.graph.tenant_id.upper() if tenant == "guid" else tenant
    assert httpx.post(token_url(sim, named), data=secret_form(sim)).status_code == 200


def test_a_secret_may_come_by_http_basic(sim: Simulator) -> None:
    graph = sim.settings.graph
    form = secret_form(sim, client_secret=None)
    basic = (graph.client_id, graph.client_secret.get_secret_value())
    assert httpx.post(token_url(sim), data=form, auth=basic).status_code == 200
    wrong = httpx.post(token_url(sim), data=form, auth=(graph.client_id, "nope"))
    assert_entra_error(wrong, 401, "invalid_client", 7000215)


@pytest.mark.parametrize(
    ("changes", "tenant", "status", "error", "code"),
    [
        ({}, "other.example", 400, "invalid_tenant", 90002),
        ({"grant_type": None}, None, 400, "invalid_request", 900144),
        ({"grant_type": "password"}, None, 400, "unsupported_grant_type", 70003),
        ({"client_id": None}, None, 400, "invalid_request", 900144),
        ({"client_id": str(uuid.UUID(int=7))}, None, 400, "unauthorized_client", 700016),
        ({"client_secret": "not-the-secret"}, None, 401, "invalid_client", 7000215),
        ({"client_secret": None}, None, 401, "invalid_client", 7000216),
        ({"scope": None}, None, 400, "invalid_request", 900144),
        ({"scope": "Mail.Read"}, None, 400, "invalid_scope", 1002012),
        ({"scope": f"{SCOPE} openid"}, None, 400, "invalid_scope", 1002012),
        ({"scope": f"{SCOPE} https://outlook.office.com/.default"}, None, 400, "invalid_scope",
         70011),
        ({"scope": "https://outlook.office.com/.default"}, None, 400, "invalid_resource", 500011),
    ],
)  # fmt: skip
def test_token_requests_entra_refuses(
    sim: Simulator,
    changes: dict[str, str | None],
    tenant: str | None,
    status: int,
    error: str,
    code: int,
) -> None:
    answer = httpx.post(
        token_url(sim, tenant),
        data=secret_form(sim, **changes),
        headers={"client-request-id": "c0ffee00-0000-0000-0000-000000000001"},
    )
    assert_entra_error(answer, status, error, code)
    assert answer.json()["correlation_id"] == "c0ffee00-0000-0000-0000-000000000001"
    assert sim.request_log.entries(operation="graph.token")[-1].result == f"AADSTS{code}"


def test_a_json_body_is_not_a_token_request(sim: Simulator) -> None:
    answer = httpx.post(token_url(sim), json=secret_form(sim))
    assert_entra_error(answer, 400, "invalid_request", 900144)


@pytest.mark.parametrize("sha256", [False, True], ids=["RS256-x5t", "PS256-x5t#S256"])
def test_a_certificate_assertion_gets_a_token(
    sim: Simulator, cert_app: dict[str, Any], smtp: str, graph_get: Any, sha256: bool
) -> None:
    signed = assertion(cert_app, token_url(sim), sha256=sha256)
    answer = httpx.post(token_url(sim), data=assertion_form(cert_app, signed))
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    assert graph_get(f"/users/{smtp}", f"Bearer {token}").status_code == 200
    # msal reuses one assertion for minutes, so the same jti is taken again.
    assert httpx.post(token_url(sim), data=assertion_form(cert_app, signed)).status_code == 200


def _other_key_pem() -> str:
    return self_signed_rsa("someone else").key_pem.decode()


@pytest.mark.parametrize(
    ("case", "code", "reason"),
    [
        ("garbage", 50027, "invalid or malformed"),
        ("no thumbprint", 50027, "No certificate thumbprint"),
        ("assertion type", 50027, "client_assertion_type"),
        ("unregistered certificate", 700027, "The key was not found"),
        ("wrong key", 700027, "use of the key to verify the signature failed"),
        ("issuer", 700021, "doesn't match 'client_id'"),
        ("subject", 700021, "doesn't match 'client_id'"),
        ("audience", 700023, "audience claim"),
        ("audience of another tenant", 700023, "audience claim"),
        ("no jti", 50027, "'jti'"),
        ("expired", 700024, "not within its valid time range"),
        ("not yet valid", 700024, "not within its valid time range"),
    ],
)
def test_bad_assertions_are_refused(
    sim: Simulator, cert_app: dict[str, Any], case: str, code: int, reason: str
) -> None:
    url = token_url(sim)
    now = time.time()
    form_changes: dict[str, str] = {}
    cases: dict[str, Callable[[], str]] = {
        "garbage": lambda: "not.a.jwt",
        "no thumbprint": lambda: assertion(cert_app, url, header={"x5t": None}),
        "assertion type": lambda: assertion(cert_app, url),
        "unregistered certificate": lambda: assertion(
            {**cert_app, "thumbprints": ["00" * 20]}, url
        ),
        "wrong key": lambda: assertion(cert_app, url, key_pem=_other_key_pem()),
        "issuer": lambda: assertion(cert_app, url, iss=str(uuid.uuid4())),
        "subject": lambda: assertion(cert_app, url, sub=str(uuid.uuid4())),
        "audience": lambda: assertion(
            cert_app, "https://login.microsoftonline.com/common/oauth2/v2.0/token"
        ),
        "audience of another tenant": lambda: assertion(cert_app, token_url(sim, "other.example")),
        "no jti": lambda: assertion(cert_app, url, jti=None),
        "expired": lambda: assertion(cert_app, url, exp=now - CLOCK_SKEW_S - 60, iat=now - 2000),
        "not yet valid": lambda: assertion(cert_app, url, nbf=now + CLOCK_SKEW_S + 600),
    }
    signed = cases[case]()
    if case == "assertion type":
        form_changes["client_assertion_type"] = "urn:ietf:params:oauth:client-assertion-type:saml"
    answer = httpx.post(url, data={**assertion_form(cert_app, signed), **form_changes})
    assert_entra_error(answer, 401, "invalid_client", code)
    assert reason in answer.json()["error_description"]


def test_assertion_audience_may_name_the_tenant_by_domain_or_the_v1_endpoint(
    sim: Simulator, cert_app: dict[str, Any]
) -> None:
    for audience in (
        token_url(sim, "simtenant.onmicrosoft.com"),
        f"{sim.url}/{sim.settings.graph.tenant_id}/oauth2/token",
    ):
        signed = assertion(cert_app, audience)
        answer = httpx.post(token_url(sim), data=assertion_form(cert_app, signed))
        assert answer.status_code == 200, answer.text


# --- discovery ------------------------------------------------------------------------------------
def test_discovery_document_and_keys_point_at_the_simulator(sim: Simulator, token: str) -> None:
    tenant = sim.settings.graph.tenant_id
    config = httpx.get(f"{sim.url}/sim.example/v2.0/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == token_url(sim)
    assert config["issuer"] == f"{sim.url}/{tenant}/v2.0"
    for name in ("token_endpoint", "authorization_endpoint", "jwks_uri", "end_session_endpoint"):
        assert config[name].startswith(f"{sim.url}/{tenant}/")
    assert "private_key_jwt" in config["token_endpoint_auth_methods_supported"]
    keys = httpx.get(config["jwks_uri"]).json()
    [key] = keys["keys"]
    assert key["kid"] == jwt.get_unverified_header(token)["kid"]
    claims = jwt.decode(
        token,
        jwt.PyJWK.from_dict(key),
        algorithms=["RS256"],
        audience="https://graph.microsoft.com",
    )
    assert claims["tid"] == tenant
    for path in ("v2.0/.well-known/openid-configuration", "discovery/v2.0/keys"):
        assert_entra_error(
            httpx.get(f"{sim.url}/not-a-tenant/{path}"), 400, "invalid_tenant", 90002
        )


# --- checks on every Graph call -------------------------------------------------------------------
def _forged(sim: Simulator) -> str:
    """A token with the right claims signed by a key that is not the authority's."""
    claims = jwt.decode(
        sim.graph.auth.issue_token(sim.settings.graph.client_id),
        options={"verify_signature": False},
    )
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(claims, key, "RS256", headers={"kid": sim.graph.auth.key_id})


def _tampered(sim: Simulator) -> str:
    head, body, signature = sim.graph.auth.issue_token(sim.settings.graph.client_id).split(".")
    claims = jwt.utils.base64url_decode(body)
    more = claims.replace(b'"Mail.Read"', b'"Mail.ReadWrite"')
    return ".".join([head, jwt.utils.base64url_encode(more).decode(), signature])


def _token(sim: Simulator, **claims: Any) -> str:
    return sim.graph.auth.issue_token(sim.settings.graph.client_id, overrides=claims)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "Access token is empty."),
        ("not bearer", "Access token is empty."),
        ("garbage", "JWT is not well formed"),
        ("three garbage parts", "JWT is not well formed"),
        ("forged signature", "Invalid signature"),
        ("tampered claims", "Invalid signature"),
        ("other tenant", "Invalid issuer"),
        ("other issuer", "Invalid issuer"),
        ("wrong audience", "Invalid audience"),
        ("not yet valid", "not yet valid"),
        ("unknown application", "Unknown application"),
    ],
)
def test_graph_refuses_bad_tokens(
    sim: Simulator, smtp: str, graph_get: Any, case: str, message: str
) -> None:
    now = int(time.time())
    other_tenant = str(uuid.uuid4())
    cases: dict[str, Callable[[], str | None]] = {
        "missing": lambda: None,
        "not bearer": lambda: "Basic dXNlcjpwYXNz",
        "garbage": lambda: "Bearer garbage",
        "three garbage parts": lambda: "Bearer a.b.c",
        "forged signature": lambda: f"Bearer {_forged(sim)}",
        "tampered claims": lambda: f"Bearer {_tampered(sim)}",
        "other tenant": lambda: (
            "Bearer "
            + _token(sim, tid=other_tenant, iss=f"https://sts.windows.net/{other_tenant}/")
        ),
        "other issuer": lambda: "Bearer " + _token(sim, iss="https://sts.example/"),
        "wrong audience": lambda: "Bearer " + _token(sim, aud="https://outlook.office365.com"),
        "not yet valid": lambda: "Bearer " + _token(sim, nbf=now + CLOCK_SKEW_S + 600),
        "unknown application": lambda: "Bearer " + _token(sim, appid=str(uuid.uuid4())),
    }
    authorization = cases[case]()
    answer = graph_get(f"/users/{smtp}", authorization)
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert error["code"] == "InvalidAuthenticationToken"
    assert message in error["message"]
    assert set(error["innerError"]) >= {"date", "request-id"}
    assert answer.headers["www-authenticate"].startswith("Bearer ")


def test_the_access_policy_limits_an_application_to_its_mailboxes(
    sim: Simulator, smtp: str, graph_get: Any
) -> None:
    outside = new_smtp(sim)
    registered = httpx.post(
        f"{sim.url}/control/graph/register_app",
        json={"secret": "s3cret", "mailboxes": [smtp.upper()]},
    ).json()["result"]
    assert registered["mailboxes"] == [smtp.lower()]
    form = secret_form(sim, client_id=registered["client_id"], client_secret="s3cret")
    token = httpx.post(token_url(sim), data=form).json()["access_token"]
    assert graph_get(f"/users/{smtp}", f"Bearer {token}").status_code == 200
    for ref in (outside, user_id(outside)):
        denied = graph_get(f"/users/{ref}/mailFolders", f"Bearer {token}")
        assert denied.status_code == 403
        assert denied.json()["error"]["code"] == "ErrorAccessDenied"
        assert denied.json()["error"]["message"] == "Access to OData is disabled."


def test_an_application_without_a_mail_role_is_denied(
    sim: Simulator, smtp: str, graph_get: Any
) -> None:
    registered = sim.graph.controls["register_app"](roles=["User.Read.All"])
    assert "secret" in registered  # a new app without a credential gets a generated secret
    form = secret_form(sim, client_id=registered["client_id"], client_secret=registered["secret"])
    token = httpx.post(token_url(sim), data=form).json()["access_token"]
    assert jwt.decode(token, options={"verify_signature": False})["roles"] == ["User.Read.All"]
    denied = graph_get(f"/users/{smtp}", f"Bearer {token}")
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "ErrorAccessDenied"


def test_register_app_refuses_a_certificate_that_is_not_one(sim: Simulator) -> None:
    answer = httpx.post(
        f"{sim.url}/control/graph/register_app", json={"certificate_pem": "-----BEGIN nonsense"}
    )
    assert answer.status_code == 400


# --- lifetimes, on a simulator of the test's own --------------------------------------------------
def test_tokens_and_certificates_expire_on_the_simulator_clock() -> None:
    settings = SimulatorSection(port=0, graph=GraphSection(token_lifetime_s=120))
    with Simulator(settings) as sim:
        smtp = "expiry@sim.example"
        sim.control.create_mailbox(smtp)
        answer = httpx.post(token_url(sim), data=secret_form(sim)).json()
        assert answer["expires_in"] == 120
        bearer = {"Authorization": f"Bearer {answer['access_token']}"}
        cert_app = sim.graph.controls["register_app"](new_certificate=True)
        with httpx.Client(base_url=sim.graph_url, event_hooks={"response": [check_response]}) as g:
            assert g.get(f"/users/{smtp}", headers=bearer).status_code == 200
            # Microsoft's validators allow five minutes of clock skew past ``exp``.
            sim.clock.advance(120 + CLOCK_SKEW_S - 10)
            assert g.get(f"/users/{smtp}", headers=bearer).status_code == 200
            sim.clock.advance(20)
            expired = g.get(f"/users/{smtp}", headers=bearer)
        assert expired.status_code == 401
        assert expired.json()["error"]["code"] == "InvalidAuthenticationToken"
        assert "expired" in expired.json()["error"]["message"]
        # A token issued after the clock moved is judged on the same clock, and works.
        renewed = httpx.post(token_url(sim), data=secret_form(sim)).json()["access_token"]
        with httpx.Client(base_url=sim.graph_url, event_hooks={"response": [check_response]}) as g:
            assert (
                g.get(f"/users/{smtp}", headers={"Authorization": f"Bearer {renewed}"}).status_code
                == 200
            )
        # Assertions are timed by the client's wall clock, so certificate clients keep working
        # after a test moves the simulator's clock...
        fresh = httpx.post(
            token_url(sim), data=assertion_form(cert_app, assertion(cert_app, token_url(sim)))
        )
        assert fresh.status_code == 200, fresh.text
        # ...until the registered certificate itself has expired on the authority's clock.
        sim.clock.advance(366 * 86400)
        stale = httpx.post(
            token_url(sim), data=assertion_form(cert_app, assertion(cert_app, token_url(sim)))
        )
        assert_entra_error(stale, 401, "invalid_client", 700027)
        assert "The key used is expired" in stale.json()["error_description"]
