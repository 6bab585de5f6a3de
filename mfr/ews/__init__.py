"""Access to Exchange Web Services shared by the listener and the extractor: settings, the
service account's impersonated accounts, throttling, retries and error classification."""

from mfr.ews.connection import EwsConnection
from mfr.ews.errors import EwsError
from mfr.ews.settings import ExchangeSettings
from mfr.retry import RetryPolicy
from mfr.throttle import Throttle

__all__ = ["EwsConnection", "EwsError", "ExchangeSettings", "RetryPolicy", "Throttle"]
