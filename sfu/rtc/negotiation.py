"""The subscribe side's negotiation queue: one offer in flight, changes made meanwhile folded
into the next offer when the answer comes back, and a deadline for the answer (a client that
stopped answering would otherwise hold its place on the node forever)."""

from __future__ import annotations


class NegotiationError(Exception):
    """A client message that does not fit the negotiation state."""


class Negotiation:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.offered_ms = -1  # when the unanswered offer went out
        self._in_flight = False
        self._again = False

    @property
    def in_flight(self) -> bool:
        return self._in_flight

    def start(self) -> bool:
        """A change wants an offer: True if one may go out now; else it rides on the next."""
        if self._in_flight:
            self._again = True
            return False
        self._in_flight, self._again = True, False
        return True

    def offered(self, now_ms: int) -> None:
        self.offered_ms = now_ms

    def answered(self) -> bool:
        """The offer was answered: True if changes came meanwhile (offer again)."""
        self._in_flight, self.offered_ms = False, -1
        return self._again

    def expired(self, now_ms: int) -> bool:
        return self.offered_ms >= 0 and now_ms - self.offered_ms >= self.timeout_s * 1000
