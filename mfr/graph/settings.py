"""How to reach Microsoft Graph for Exchange Online: the tenant, the app registration and its
credential, and the politeness limits.

App-only access (concepts/auth-v2-service.md): an Entra application with the ``Mail.Read``
application permission, a client secret or (better) a certificate, scoped by an application
access policy to the replicated mailboxes (concepts/auth-limit-mailbox-access.md). Secrets come
from the environment (``MFR_EXCHANGE__GRAPH__CLIENT_SECRET``), never from the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import AnyHttpUrl, Field, SecretStr, model_validator

from mfr.settings import Section


class GraphSettings(Section):
    """The Entra application the pipeline signs in as, and where Graph is."""

    tenant_id: str = Field(min_length=1, description="the tenant's GUID or a verified domain")
    client_id: str = Field(min_length=1, description="the app registration's application id")
    client_secret: SecretStr | None = None
    certificate_path: Path | None = Field(
        default=None, description="PEM holding the app's certificate and its private key"
    )
    authority_host: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://login.microsoftonline.com"),
        description="the identity platform (another cloud's, or a test authority)",
    )
    graph_url: AnyHttpUrl = Field(
        default=AnyHttpUrl("https://graph.microsoft.com/v1.0"), description="Graph's version root"
    )
    ca_file: Path | None = Field(
        default=None, description="CA bundle to trust instead of the system's (private PKI, tests)"
    )
    max_concurrent_per_mailbox: int = Field(
        default=4, ge=1, le=4, description="Outlook allows 4 concurrent requests (throttling.md)"
    )
    request_timeout_s: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        if (self.client_secret is None) == (self.certificate_path is None):
            raise ValueError("give exactly one of client_secret and certificate_path")
        if str(self.authority_host).startswith("http://"):
            raise ValueError("authority_host must be https:// (msal accepts no other)")
        return self
