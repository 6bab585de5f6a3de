"""An unmodified msal against the simulator's authority, over HTTPS with the simulator's own CA.

What msal needs, found out here:
- an ``https://`` authority: ``msal.authority.canonicalize`` refuses ``http://`` outright, hence
  the simulator's TLS option (``SimulatorSection(tls=True)``, ``sim.ca_file``);
- ``instance_discovery=False`` (or ``validate_authority=False``): otherwise msal first asks
  ``https://login.microsoftonline.com/common/discovery/instance`` whether the authority's host is
  one of Microsoft's, which a loopback simulator is not (and the test machine has no internet);
- trust in the CA. ``verify=ca_file`` works, but only where ``REQUESTS_CA_BUNDLE`` and
  ``CURL_CA_BUNDLE`` are unset: requests lets those variables override a Session's ``verify``,
  and msal builds its Session with ``verify=``. Handing msal an ``http_client`` (a requests
  Session with ``trust_env = False``) works everywhere, so most tests do that.
Nothing else: msal then reads ``/{tenant}/v2.0/.well-known/openid-configuration``, posts to the
token endpoint it names, and signs certificate assertions for that endpoint.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msal
import pytest
import requests

from mfr.certs import server_files
from simulator import Simulator, SimulatorSection
from tests.simulator.conftest import new_smtp
from tests.simulator.graph.conftest import check_response

SCOPES = ["https://graph.microsoft.com/.default"]
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class LoopbackSession(requests.Session):
    """A requests Session that trusts only the given CA, ignores proxy and CA variables, records
    every URL, and refuses any host but loopback (so an attempt to reach Microsoft shows)."""

    def __init__(self, ca_file: Path) -> None:
        super().__init__()
        self.verify = str(ca_file)
        self.trust_env = False
        self.urls: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        verb = method.decode() if isinstance(method, bytes) else method
        text = url.decode() if isinstance(url, bytes) else url
        self.urls.append(text)
        if urlsplit(text).hostname not in _LOOPBACK:
            raise requests.ConnectionError(f"the test refuses to reach {text}")
        return super().request(verb, text, *args, **kwargs)


@pytest.fixture(scope="module")
def tls_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulator]:
    """A simulator of this module's own, serving everything over HTTPS."""
    settings = SimulatorSection(port=0, tls=True, tls_dir=tmp_path_factory.mktemp("tls"))
    with Simulator(settings) as simulator:
        yield simulator


@pytest.fixture
def session(tls_sim: Simulator) -> Iterator[LoopbackSession]:
    assert tls_sim.ca_file is not None
    with LoopbackSession(tls_sim.ca_file) as opened:
        yield opened


@pytest.fixture
def graph_tls(tls_sim: Simulator) -> Iterator[httpx.Client]:
    """An httpx client on the TLS simulator's Graph root, trusting its CA, bodies CSDL-checked."""
    assert tls_sim.ca_file is not None
    context = ssl.create_default_context(cafile=str(tls_sim.ca_file))
    with httpx.Client(
        base_url=tls_sim.graph_url, verify=context, event_hooks={"response": [check_response]}
    ) as client:
        yield client


def authority(sim: Simulator, tenant: str | None = None) -> str:
    return f"{sim.authority_url}/{tenant or sim.settings.graph.tenant_id}"


def token_requests(sim: Simulator, client_id: str) -> int:
    return sum(1 for e in sim.request_log.entries("graph.token") if e.account == client_id)


def test_the_simulator_serves_https_with_its_own_ca(tls_sim: Simulator) -> None:
    assert tls_sim.url.startswith("https://127.0.0.1:")
    assert tls_sim.ca_file is not None
    context = ssl.create_default_context(cafile=str(tls_sim.ca_file))
    smtp = new_smtp(tls_sim)
    # The control API and EWS are behind the same TLS as Graph and the token endpoint.
    truth = httpx.get(f"{tls_sim.url}/control/mailboxes/{smtp}/truth", verify=context)
    assert truth.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{tls_sim.url}/control/mailboxes/{smtp}/truth")  # the system CAs: untrusted
    assert tls_sim.endpoint_url.startswith("https://")
    # The certificate names every loopback spelling.
    for host in ("localhost", "127.0.0.1"):
        url = f"https://{host}:{tls_sim.port}/control/mailboxes/{smtp}/truth"
        assert httpx.get(url, verify=context).status_code == 200


def test_msal_refuses_an_http_authority(tls_sim: Simulator) -> None:
    plain = f"http://127.0.0.1:{tls_sim.port}/{tls_sim.settings.graph.tenant_id}"
    with pytest.raises(ValueError, match="https"):
        msal.ConfidentialClientApplication("x", client_credential="y", authority=plain)


def test_msal_asks_microsoft_about_an_unknown_authority_by_default(
    tls_sim: Simulator, session: LoopbackSession
) -> None:
    with pytest.raises(requests.ConnectionError, match=r"login\.microsoftonline\.com"):
        msal.ConfidentialClientApplication(
            "x", client_credential="y", authority=authority(tls_sim), http_client=session
        )
    assert urlsplit(session.urls[0])[1:3] == (
        "login.microsoftonline.com",
        "/common/discovery/instance",
    )


def test_msal_gets_a_token_with_a_client_secret_and_caches_it(
    tls_sim: Simulator, session: LoopbackSession, graph_tls: httpx.Client
) -> None:
    smtp = new_smtp(tls_sim)
    client_id = tls_sim.graph.controls["register_app"](secret="msal-secret")["client_id"]
    app = msal.ConfidentialClientApplication(
        client_id,
        client_credential="msal-secret",
        authority=authority(tls_sim, "simtenant.onmicrosoft.com"),
        http_client=session,
        instance_discovery=False,
    )
    first = app.acquire_token_for_client(scopes=SCOPES)
    assert first.get("token_source") == "identity_provider", first
    assert first["expires_in"] == tls_sim.settings.graph.token_lifetime_s
    read = graph_tls.get(
        f"/users/{smtp}", headers={"Authorization": f"Bearer {first['access_token']}"}
    )
    assert read.status_code == 200
    assert read.json()["userPrincipalName"] == smtp
    second = app.acquire_token_for_client(scopes=SCOPES)
    assert second["token_source"] == "cache"
    assert second["access_token"] == first["access_token"]
    assert token_requests(tls_sim, client_id) == 1
    # Discovery and the token request only: no request left the machine.
    assert all(urlsplit(url).hostname == "127.0.0.1" for url in session.urls)


@pytest.mark.parametrize(
    "credential",
    ["thumbprint", "public_certificate"],
    ids=["RS256-x5t", "PS256-x5t#S256-x5c"],
)
def test_msal_gets_a_token_with_a_certificate(
    tls_sim: Simulator, session: LoopbackSession, graph_tls: httpx.Client, credential: str
) -> None:
    smtp = new_smtp(tls_sim)
    made = tls_sim.graph.controls["register_app"](new_certificate=True, mailboxes=[smtp])
    client_credential = {"private_key": made["private_key_pem"]}
    if credential == "thumbprint":
        client_credential["thumbprint"] = made["thumbprints"][0]
    else:
        client_credential["public_certificate"] = made["certificate_pem"]
    app = msal.ConfidentialClientApplication(
        made["client_id"],
        client_credential=client_credential,
        authority=authority(tls_sim),
        http_client=session,
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=SCOPES)
    assert "access_token" in result, result
    bearer = {"Authorization": f"Bearer {result['access_token']}"}
    assert graph_tls.get(f"/users/{smtp}", headers=bearer).status_code == 200
    outside = graph_tls.get(f"/users/{new_smtp(tls_sim)}", headers=bearer)
    assert outside.status_code == 403  # the app's access policy names only its own mailbox
    assert app.acquire_token_for_client(scopes=SCOPES)["token_source"] == "cache"
    assert token_requests(tls_sim, made["client_id"]) == 1


def test_msal_reports_entra_errors(tls_sim: Simulator, session: LoopbackSession) -> None:
    app = msal.ConfidentialClientApplication(
        tls_sim.settings.graph.client_id,
        client_credential="not-the-secret",
        authority=authority(tls_sim),
        http_client=session,
        instance_discovery=False,
    )
    result = app.acquire_token_for_client(scopes=SCOPES)
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]


def test_msal_fails_on_an_unknown_tenant(tls_sim: Simulator, session: LoopbackSession) -> None:
    with pytest.raises(ValueError, match="double check your tenant name") as refused:
        msal.ConfidentialClientApplication(
            "x",
            client_credential="y",
            authority=authority(tls_sim, "nobody.example"),
            http_client=session,
            instance_discovery=False,
        )
    # msal words its own message; Entra's answer to the discovery request is the cause.
    assert "AADSTS90002" in str(refused.value.__context__)


@pytest.mark.parametrize("switch", ["instance_discovery", "validate_authority"])
def test_msal_verify_works_without_ca_bundle_variables(
    tls_sim: Simulator, monkeypatch: pytest.MonkeyPatch, switch: str
) -> None:
    """msal's own ``verify=`` and either switch, as a user would write it."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    graph = tls_sim.settings.graph
    app = msal.ConfidentialClientApplication(
        graph.client_id,
        client_credential=graph.client_secret.get_secret_value(),
        authority=authority(tls_sim),
        verify=str(tls_sim.ca_file),
        **{switch: False},
    )
    try:
        assert "access_token" in app.acquire_token_for_client(scopes=SCOPES)
    finally:
        app.http_client.close()


def test_the_ca_is_kept_and_the_server_certificate_renewed_for_new_names(tmp_path: Path) -> None:
    first = server_files(tmp_path)
    ca = first.ca_file.read_bytes()
    cert = first.cert_file.read_bytes()
    again = server_files(tmp_path)
    assert again == first
    assert (again.ca_file.read_bytes(), again.cert_file.read_bytes()) == (ca, cert)
    wider = server_files(tmp_path, ("127.0.0.1", "::1", "localhost", "sim.internal"))
    assert wider.ca_file.read_bytes() == ca  # clients keep trusting the same CA
    assert wider.cert_file.read_bytes() != cert
    assert oct(wider.key_file.stat().st_mode & 0o777) == "0o600"


def test_mfr_simulator_tls_prints_the_ca_to_trust(tmp_path: Path) -> None:
    """``mfr simulator --tls`` serves HTTPS and says which CA file to trust (kept under var/)."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from mfr.cli import main; main()", "simulator", "--tls",
         "--port", "0"],
        stdout=subprocess.PIPE, text=True, cwd=tmp_path, env=os.environ.copy(),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        lines = {}
        for line in iter(process.stdout.readline, ""):
            if line.startswith("Ctrl-C"):
                break
            name, _, value = line.partition(":")
            lines[name] = value.strip()
        ca_file = Path(lines["CA to trust"])
        assert ca_file == tmp_path / "var" / "simulator-tls" / "ca.pem"
        token_endpoint = lines["token endpoint"]
        assert token_endpoint.startswith("https://")
        context = ssl.create_default_context(cafile=str(ca_file))
        answer = httpx.post(
            token_endpoint,
            data={"grant_type": "client_credentials", "client_id": lines["Graph app"].split()[0],
                  "client_secret": lines["client secret"], "scope": SCOPES[0]},
            verify=context,
        )  # fmt: skip
        assert answer.status_code == 200, answer.text
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
