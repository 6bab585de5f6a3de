"""Errors the simulator answers with: an EWS response code, and how it travels on the wire."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mfr.errors import MfrError

if TYPE_CHECKING:
    from simulator.validation import Violation


class EwsError(MfrError):
    """An EWS error for one response message (or, with ``fault``, for the whole request).

    ``fault`` errors are sent as a SOAP fault with HTTP 500, as Exchange does for errors that
    concern
    the request as a whole (authentication, impersonation, ErrorServerBusy); others become a
    ResponseMessage with ResponseClass="Error".
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        fault: bool = False,
        back_off_ms: int | None = None,
        violation: Violation | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fault = fault
        self.back_off_ms = back_off_ms
        self.violation = violation


class BadRequestError(MfrError):
    """The HTTP request itself is unacceptable (not XML, too large, not SOAP); answered with 400."""


class SimulatorError(MfrError):
    """The simulator was driven wrongly through its control interface (unknown mailbox, bad
    value)."""
