"""The listener's EWS requests: subscribe and unsubscribe mailboxes, through ``EwsConnection``
(impersonation, the throttle's back-off gate, retries, error translation).

exchangelib 5.6 writes a subscription's starting watermark as ``m:Watermark``; messages.xsd
(PushSubscriptionRequestType, in the types namespace) wants ``t:Watermark``, and Exchange refuses
the request with ErrorSchemaValidation. ``WatermarkPushSubscribe`` moves the element into the
types namespace, so renewing a push subscription from its watermark works on Exchange too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from exchangelib.util import MNS, TNS

from listener.affinity import AffinityRoute, GroupSubscribe, GroupUnsubscribe, PushSubscribe
from mfr.ews import EwsConnection, EwsError


class WatermarkPushSubscribe(PushSubscribe):
    """PushSubscribe whose watermark is ``t:Watermark``, as the schema says (see the module)."""

    def get_payload(self, **kwargs: Any) -> Any:
        payload = super().get_payload(**kwargs)
        for element in payload.iter(f"{{{MNS}}}Watermark"):
            element.tag = f"{{{TNS}}}Watermark"
        return payload


class Subscriber:
    """Subscribe/Unsubscribe calls for one service account."""

    def __init__(
        self,
        connection: EwsConnection,
        event_types: list[str],
        on_retry: Callable[[str, EwsError, int], None] | None = None,
    ) -> None:
        """``on_retry(mailbox, error, attempt)``: told before each pause of a retried call."""
        self.connection = connection
        self.event_types = list(event_types)
        self._on_retry = on_retry

    def _call(self, mailbox: str, doing: str, operation: Callable[[], Any]) -> Any:
        told = self._on_retry
        on_retry = None if told is None else lambda error, attempt: told(mailbox, error, attempt)
        return self.connection.call(mailbox, doing, operation, on_retry=on_retry)

    def subscribe_streaming(self, mailbox: str) -> tuple[str, str | None]:
        """A streaming subscription to all of the mailbox's folders, anchored on the mailbox
        itself; returns (subscription id, X-BackEndOverrideCookie naming its back-end)."""
        route = AffinityRoute(mailbox)
        account = self.connection.account(mailbox)  # its own call: never nest calls (slots)

        def subscribe() -> str:
            service = GroupSubscribe(route, account=account)
            result: str = service.get(folders=None, event_types=self.event_types)
            return result

        subscription_id = self._call(mailbox, f"Subscribe (streaming) for {mailbox}", subscribe)
        return subscription_id, route.cookie

    def unsubscribe(self, mailbox: str, subscription_id: str, route: AffinityRoute) -> None:
        """End a streaming subscription (through its group's route)."""
        account = self.connection.account(mailbox)

        def unsubscribe() -> None:
            GroupUnsubscribe(route, account=account).get(
                subscription_id=subscription_id, expect_result=None
            )

        self._call(mailbox, f"Unsubscribe for {mailbox}", unsubscribe)

    def subscribe_push(
        self, mailbox: str, url: str, status_frequency_min: int, watermark: str | None
    ) -> tuple[str, str]:
        """A push subscription to all folders delivering to ``url``, from ``watermark`` if given;
        returns (subscription id, watermark)."""
        account = self.connection.account(mailbox)

        def subscribe() -> tuple[str, str]:
            result: tuple[str, str] = WatermarkPushSubscribe(account=account).get(
                folders=None,
                event_types=self.event_types,
                watermark=watermark,
                status_frequency=status_frequency_min,
                url=url,
            )
            return result

        return self._call(mailbox, f"Subscribe (push) for {mailbox}", subscribe)  # type: ignore[no-any-return]
