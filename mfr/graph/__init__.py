"""Access to Microsoft Graph for Exchange Online, shared by the listener and the extractor:
settings, app-only tokens (msal), a throttled and retrying client, errors classified retriable or
fatal — the Graph counterpart of ``mfr.ews``."""

from mfr.graph.client import GraphClient
from mfr.graph.errors import GraphError
from mfr.graph.settings import GraphSettings
from mfr.graph.tokens import TokenSource

__all__ = ["GraphClient", "GraphError", "GraphSettings", "TokenSource"]
