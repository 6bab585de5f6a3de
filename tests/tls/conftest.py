"""Certificates for the TLS tests, made with ``cryptography`` by ``mfr.certs``: a CA the
clients trust and a server certificate of it for the loopback addresses, a stranger CA nobody
trusts, and helpers that call a URL as a trusting or a distrustful client."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from mfr.certs import TlsFiles, server_files


@dataclass(frozen=True)
class Pki:
    """The run's certificates."""

    ours: TlsFiles
    stranger_ca: Path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA with a loopback server certificate, and a CA of someone else."""
    ours = server_files(tmp_path_factory.mktemp("pki"))
    stranger = server_files(tmp_path_factory.mktemp("stranger")).ca_file
    return Pki(ours, stranger)


def trusting(ca_file: Path, **options: object) -> httpx.Client:
    """A client trusting ``ca_file`` only."""
    return httpx.Client(verify=ssl.create_default_context(cafile=str(ca_file)), timeout=10,
                        **options)  # type: ignore[arg-type]


def refused(url: str, ca_file: Path | None) -> str:
    """The TLS failure of a client trusting ``ca_file`` (the system's CAs when None)."""
    verify: ssl.SSLContext | bool = (
        ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    )
    with pytest.raises(httpx.ConnectError) as failure:
        httpx.get(url, verify=verify, timeout=10)
    return str(failure.value)
