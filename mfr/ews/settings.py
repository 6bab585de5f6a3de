"""How to reach Exchange: which API, and for EWS the endpoint, service account, authentication and
politeness limits (Graph's own are in ``mfr.graph.settings``).

``api = "ews"`` (the default) serves on-premises Exchange and EWS-allow-listed tenants;
``api = "graph"`` serves Exchange Online through Microsoft Graph, where EWS is blocked since
2026-10-01 unless allow-listed and off for everyone from 2027-04-01.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import AnyHttpUrl, Field, FilePath, SecretStr, model_validator

from mfr.graph.settings import GraphSettings
from mfr.settings import Section

ServerVersion = Literal["Exchange2013", "Exchange2016", "Exchange2019", "ExchangeOnline"]


class ExchangeSettings(Section):
    """Which API reaches Exchange; for EWS, the service account that impersonates every
    replicated mailbox; for Graph, the ``[exchange.graph]`` application."""

    api: Literal["ews", "graph"] = Field(
        default="ews", description="ews: on-premises (or allow-listed) EWS; graph: Exchange Online"
    )
    graph: GraphSettings | None = Field(
        default=None, description="api = graph: the Entra application ([exchange.graph])"
    )
    endpoint: AnyHttpUrl | None = Field(
        default=None, description="EWS URL (https://mail.contoso.com/EWS/Exchange.asmx); unset: "
        "Autodiscover per mailbox"
    )
    ca_file: FilePath | None = Field(
        default=None, description="CA bundle (PEM) that signed Exchange's certificate, in place "
        "of the system's CAs (an internal CA); applies to the endpoint, or with Autodiscover to "
        "every address it leads to"
    )
    auth: Literal["basic", "ntlm", "oauth"] = "ntlm"
    service_account: str = Field(
        default="", description="user name (DOMAIN\\user or UPN); for oauth, the app's label"
    )
    password: SecretStr | None = None
    tenant_id: str | None = Field(default=None, description="oauth: the Entra ID tenant")
    client_id: str | None = Field(default=None, description="oauth: the app registration's id")
    client_secret: SecretStr | None = None
    version: ServerVersion | None = Field(
        default=None, description="skip asking the server which version it runs"
    )
    max_concurrent_requests: int = Field(
        default=10, ge=1, le=100, description="per budget, within EWSMaxConcurrency (default 10)"
    )
    backoff_scope: Literal["account", "mailbox"] = Field(
        default="account",
        description="whose budget an ErrorServerBusy pauses: the whole service account (safe), "
        "or only the impersonated mailbox",
    )

    @model_validator(mode="after")
    def _credentials_fit_auth(self) -> Self:
        if self.api == "graph":
            if self.graph is None:
                raise ValueError("api = graph needs an [exchange.graph] section")
            return self
        if not self.service_account:
            raise ValueError("api = ews needs a service_account")
        if self.auth == "oauth":
            needed = ("tenant_id", "client_id", "client_secret")
            missing = [name for name in needed if not getattr(self, name)]
            if missing:
                raise ValueError(f"auth = oauth needs {', '.join(missing)}")
        elif self.password is None:
            raise ValueError(f"auth = {self.auth} needs a password for the service account")
        return self
