"""Certificates made with ``cryptography``: a private CA and a server certificate signed by it,
and self-signed RSA certificates for applications that authenticate with a certificate credential.

Who needs them: the simulator's HTTPS face (msal only accepts an ``https://`` authority, so the
token endpoint must be reachable over TLS for an unmodified msal to use it); a Docker Compose
stack, whose Kafka and archive speak TLS with no CA of the organisation at hand (``mfr certs``);
and tests of every TLS hop. The CA is made once and kept in a directory; the server certificate
names the hosts asked for (by default the loopback addresses ``127.0.0.1``, ``::1``,
``localhost``); clients trust the CA file (``requests``' ``verify=``, httpx's ``verify=``, Kafka's
``ssl_cafile``). A production deployment uses its organisation's CA instead.

Decisions:
- TLS keys are ECDSA P-256: generated in a millisecond, accepted by every TLS stack we use.
- Application certificates are RSA 2048: msal signs client assertions with RS256 (SHA-1
  thumbprint, ``x5t``) or PS256 (SHA-256 thumbprint, ``x5t#S256``), both RSA algorithms.
- Files are reused while the server certificate covers the wanted names and has more than a day
  left, so a CA a user once trusted keeps working across runs of ``mfr simulator --tls``. They
  are written to a temporary name and renamed, so two processes starting together never read half
  a file; private keys are readable by the owner only.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES = ("127.0.0.1", "::1", "localhost")
CA_DAYS = 3650
SERVER_DAYS = 825  # the longest server certificate lifetime clients such as macOS still accept
_RENEW_BEFORE = timedelta(days=1)
_CA_CERT, _CA_KEY = "ca.pem", "ca-key.pem"
_SERVER_CERT, _SERVER_KEY = "server.pem", "server-key.pem"


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """The files HTTPS needs: the CA clients trust, and the server's certificate and key."""

    ca_file: Path
    cert_file: Path
    key_file: Path


@dataclass(frozen=True, slots=True)
class KeyPair:
    """A private key and its certificate, both PEM."""

    key_pem: bytes
    cert_pem: bytes


def server_files(
    directory: Path,
    hosts: tuple[str, ...] = LOOPBACK_NAMES,
    label: str = "Mailbox Folder Replication simulator",
) -> TlsFiles:
    """The CA and a server certificate for ``hosts`` in ``directory``, made when missing or no
    longer fit (expiring within a day, or not naming every host), reused otherwise."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_file=directory / _CA_CERT,
        cert_file=directory / _SERVER_CERT,
        key_file=directory / _SERVER_KEY,
    )
    names = _names(hosts)
    if _fits(files, names):
        return files
    ca_key_file = directory / _CA_KEY
    ca = _load_ca(files.ca_file, ca_key_file)
    if ca is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _certificate(
            subject=f"{label} CA",
            key=ca_key,
            issuer_key=ca_key,
            issuer=None,
            days=CA_DAYS,
            ca=True,
        )
        _write(ca_key_file, _private_pem(ca_key), secret=True)
        _write(files.ca_file, ca_cert.public_bytes(serialization.Encoding.PEM))
        ca = (ca_cert, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _certificate(
        subject=label,
        key=server_key,
        issuer_key=ca[1],
        issuer=ca[0],
        days=SERVER_DAYS,
        ca=False,
        names=names,
    )
    _write(files.key_file, _private_pem(server_key), secret=True)
    _write(files.cert_file, server_cert.public_bytes(serialization.Encoding.PEM))
    return files


def keystore_file(files: TlsFiles) -> Path:
    """The server's key followed by its certificate in one file (Kafka's PEM key store),
    readable by the owner only."""
    path = files.key_file.with_name("server-keystore.pem")
    _write(path, files.key_file.read_bytes() + files.cert_file.read_bytes(), secret=True)
    return path


def self_signed_rsa(common_name: str, days: int = 365) -> KeyPair:
    """A new RSA key and a self-signed certificate for it (an application's credential)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return KeyPair(_private_pem(key), certificate_for(key, common_name, days))


def certificate_for(key: rsa.RSAPrivateKey, common_name: str, days: int = 365) -> bytes:
    """A self-signed PEM certificate for an existing RSA key."""
    cert = _certificate(
        subject=common_name, key=key, issuer_key=key, issuer=None, days=days, ca=False
    )
    return cert.public_bytes(serialization.Encoding.PEM)


# --- internals ------------------------------------------------------------------------------
def _names(hosts: tuple[str, ...]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(h.strip("[]") for h in hosts if h):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _fits(files: TlsFiles, names: list[x509.GeneralName]) -> bool:
    """Whether the cached server certificate is there, signed by the cached CA, long enough
    valid and naming every host."""
    try:
        ca = x509.load_pem_x509_certificate(files.ca_file.read_bytes())
        cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
        serialization.load_pem_private_key(files.key_file.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca)
        present = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False  # missing, damaged or foreign: made again
    fresh = cert.not_valid_after_utc - datetime.now(UTC) > _RENEW_BEFORE
    return fresh and all(name in present for name in names)


def _load_ca(
    cert_file: Path, key_file: Path
) -> tuple[x509.Certificate, CertificateIssuerPrivateKeyTypes] | None:
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        return None
    if cert.not_valid_after_utc - datetime.now(UTC) < timedelta(days=SERVER_DAYS):
        return None
    return cert, key


def _certificate(
    *,
    subject: str,
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    issuer: x509.Certificate | None,
    days: int,
    ca: bool,
    names: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    # Backdated an hour so a client whose clock is a little behind still accepts it.
    start = datetime.now(UTC) - timedelta(hours=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        usage = x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=False,
            data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False,
        )  # fmt: skip
        builder = builder.add_extension(usage, critical=True)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _private_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, secret: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file renamed over it)."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        if not secret:
            os.chmod(temporary, 0o644)  # mkstemp makes it 0600; a certificate is public
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
