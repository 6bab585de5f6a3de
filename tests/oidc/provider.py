"""A real OpenID Provider for the tests: ``provider.mjs`` (panva's certified ``oidc-provider``
from npm, installed by ``scripts/dev setup`` into ``tests/oidc/node_modules``) run with Node,
over HTTPS with a CA made for the run (``mfr.certs``)."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mfr.certs import server_files
from tests.kafka.broker import free_port

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "provider.mjs"


@dataclass
class OidcProvider:
    """The provider process; ``issuer`` is its https:// address, ``ca_file`` the CA to trust."""

    work: Path
    client_id: str
    client_secret: str
    redirect_uri: str
    accounts: dict[str, dict[str, object]]
    issuer: str = ""
    ca_file: Path = field(default_factory=Path)
    _process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start it, returning once its discovery document answers over TLS."""
        node = shutil.which("node")
        if node is None or not (HERE / "node_modules" / "oidc-provider").is_dir():
            pytest.fail("Node or tests/oidc/node_modules is missing: run scripts/dev setup")
        tls = server_files(self.work / "tls", label="MFR test OpenID Provider")
        port = free_port()
        self.issuer, self.ca_file = f"https://127.0.0.1:{port}", tls.ca_file
        config = self.work / "provider.json"
        config.write_text(json.dumps({
            "port": port, "issuer": self.issuer, "cert_file": str(tls.cert_file),
            "key_file": str(tls.key_file), "client_id": self.client_id,
            "client_secret": self.client_secret, "redirect_uri": self.redirect_uri,
            "accounts": self.accounts,
        }))
        log = (self.work / "provider.log").open("wb")
        self._process = subprocess.Popen(
            [node, str(SCRIPT), str(config)], stdout=log, stderr=subprocess.STDOUT, cwd=HERE
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                said = (self.work / "provider.log").read_text()
                raise RuntimeError(f"oidc-provider exited: {said}")
            try:
                reply = httpx.get(f"{self.issuer}/.well-known/openid-configuration",
                                  verify=self._trust(), timeout=2)
                if reply.status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("oidc-provider did not answer within 30 s")

    def tamper(self, mode: str) -> None:
        """Make the next token response carry a bad ID token: ``aud``, ``iss`` or ``sig``."""
        reply = httpx.post(f"{self.issuer}/__test__/tamper", params={"mode": mode},
                           verify=self._trust(), timeout=10)
        reply.raise_for_status()

    def _trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file))

    def stop(self) -> None:
        """Stop the process."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
