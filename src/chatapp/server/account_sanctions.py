"""Suspensions and server-wide mutes in memory: what sign-ins and every ``send`` and ``dm`` check,
without a query.

One :class:`AccountSanctions` per kind, loaded from the store at start and
changed here when a moderator acts (through the administration service); a
sanction ends by itself when its time comes (checked against the clock at each
look, and dropped then). An account without one costs a dictionary look-up.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from chatapp.clock import wire_timestamp
from chatapp.server.store import AccountSanctionRecord


class AccountSanctions:
    def __init__(self, sanctions: Iterable[AccountSanctionRecord] = ()) -> None:
        self._by_user: dict[int, AccountSanctionRecord] = {}
        self.changes = 0
        """Bumped by every change: a read from the store that saw one meanwhile may be stale."""
        for sanction in sanctions:
            self.add(sanction)

    def __len__(self) -> int:
        return len(self._by_user)

    def add(self, sanction: AccountSanctionRecord) -> None:
        self._by_user[sanction.user_id] = sanction
        self.changes += 1

    def remove(self, user_id: int) -> None:
        self._by_user.pop(user_id, None)
        self.changes += 1

    def replace(self, sanctions: Iterable[AccountSanctionRecord]) -> None:
        """Keep exactly these (read again from the store: another process may have changed them)."""
        self._by_user = {sanction.user_id: sanction for sanction in sanctions}
        self.changes += 1

    def get(self, user_id: int, now: datetime) -> AccountSanctionRecord | None:
        """The account's sanction in force, if any."""
        sanction = self._by_user.get(user_id)
        if sanction is None:
            return None
        if sanction.until is not None and sanction.until <= now:
            del self._by_user[user_id]
            return None
        return sanction


def described(sanction: AccountSanctionRecord, done: str) -> str:
    """A sentence for the user: ``done`` ("suspended", "muted") by whom, until when, and why."""
    by = f" by {sanction.actor}" if sanction.actor else ""
    until = f" until {wire_timestamp(sanction.until)}" if sanction.until is not None else " until lifted"
    reason = f": {sanction.reason}" if sanction.reason else ""
    return f"{done}{by}{until}{reason}"


def until_of(sanction: AccountSanctionRecord) -> str | None:
    """When the sanction ends by itself, as frames carry times (None: until lifted)."""
    return wire_timestamp(sanction.until) if sanction.until is not None else None
