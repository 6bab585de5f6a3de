"""The listener's EWS requests: subscribe and unsubscribe mailboxes, through ``EwsConnection``
(impersonation, the throttle's back-off gate, retries, error translation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from listener.affinity import AffinityRoute, GroupSubscribe, GroupUnsubscribe, PushSubscribe
from mfr.ews import EwsConnection, EwsError


class Subscriber:
    """Subscribe/Unsubscribe calls for one service account."""

    def __init__(
        self,
        connection: EwsConnection,
        event_types: list[str],
        on_retry: Callable[[EwsError, int], None] | None = None,
    ) -> None:
        self.connection = connection
        self.event_types = list(event_types)
        self._on_retry = on_retry

    def _call(self, mailbox: str, doing: str, operation: Callable[[], Any]) -> Any:
        return self.connection.call(mailbox, doing, operation, on_retry=self._on_retry)

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
            result: tuple[str, str] = PushSubscribe(account=account).get(
                folders=None,
                event_types=self.event_types,
                watermark=watermark,
                status_frequency=status_frequency_min,
                url=url,
            )
            return result

        return self._call(mailbox, f"Subscribe (push) for {mailbox}", subscribe)  # type: ignore[no-any-return]
