"""A running server's side of administration: what changes at once when a moderator acts.

:class:`RunningServer` implements the administration service's
:class:`~chatapp.server.services.administration.Live`: it closes the live
connection of a suspended or disconnected user (one per account, found through
the hub), changes a promoted user's role on their live session, keeps the
in-memory suspensions, mutes and address bans that sign-ins, sends and the
listener check, and has the transport close every connection from a newly
banned range (:class:`Connections`, implemented by the TCP listener). The app
builds it; chatapp-admin without a server runs the service without it.

Each change is also told to the other server processes (:class:`Others`; with ``--redis-url``),
which make the same change on theirs (:mod:`chatapp.server.live_sync` calls the ``*_here``
methods): the administration calls these only after the change is committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from chatapp.protocol import ByeReason
from chatapp.server.account_sanctions import AccountSanctions
from chatapp.server.address_bans import AddressBans, client_ip, covers, parse_network
from chatapp.server.control_events import (
    ALONE,
    AccountSanction,
    AddressBanned,
    AddressUnbanned,
    EndSessions,
    Others,
    RoleChanged,
)
from chatapp.server.hub import Hub
from chatapp.server.session import Session
from chatapp.server.store import AccountSanctionRecord, AddressBanRecord


class Connections(Protocol):
    """The transport's open connections, signed in or not."""

    def close_where(self, matches: Callable[[str], bool], reason: ByeReason, message: str | None) -> int:
        """Close (``bye`` with ``reason`` and ``message``) every connection whose client address
        ``matches``; how many."""
        ...


class RunningServer:
    def __init__(
        self,
        hub: Hub,
        connections: Connections,
        *,
        suspensions: AccountSanctions,
        mutes: AccountSanctions,
        address_bans: AddressBans,
        others: Others = ALONE,
    ) -> None:
        self._hub = hub
        self._others = others
        self._connections = connections
        self._suspensions = suspensions
        self._mutes = mutes
        self._bans = address_bans

    def _session(self, user_id: int) -> Session | None:
        member = self._hub.online(user_id)
        # The hub's members are this process's sessions; the interface only promises less.
        return member if isinstance(member, Session) else None

    def online_session(self, user_id: int) -> int | None:
        member = self._hub.online(user_id)
        return member.session_id if member is not None else None

    def end_sessions(
        self, user_id: int, reason: ByeReason, message: str | None, *, session_id: int | None = None
    ) -> int:
        closed = self.end_here(user_id, reason, message, session_id=session_id)
        self._others.tell(EndSessions(user_id, reason.value, message, session_id))
        return closed

    def end_here(
        self, user_id: int, reason: ByeReason, message: str | None, *, session_id: int | None = None
    ) -> int:
        """:meth:`end_sessions` on this process's connection only."""
        session = self._session(user_id)
        if session is None or (session_id is not None and session.session_id != session_id):
            return 0
        end_reason = "suspended" if reason is ByeReason.SUSPENDED else "disconnected"
        session.peer.link.close(reason, end_reason=end_reason, revoke=True, message=message)
        return 1

    def set_role(self, user_id: int, role: str) -> None:
        self.role_here(user_id, role)
        self._others.tell(RoleChanged(user_id, role))

    def role_here(self, user_id: int, role: str) -> None:
        session = self._session(user_id)
        if session is not None:
            session.server_role = role

    def suspended(self, sanction: AccountSanctionRecord | None, user_id: int) -> None:
        _update(self._suspensions, sanction, user_id)
        self._others.tell(AccountSanction(user_id, "suspend", sanction))

    def muted(self, sanction: AccountSanctionRecord | None, user_id: int) -> None:
        _update(self._mutes, sanction, user_id)
        self._others.tell(AccountSanction(user_id, "mute", sanction))

    def sanction_here(self, kind: str, sanction: AccountSanctionRecord | None, user_id: int) -> None:
        """The account's ``kind`` of sanction ("suspend" or "mute") is now ``sanction``, here."""
        _update(self._suspensions if kind == "suspend" else self._mutes, sanction, user_id)

    def address_banned(self, ban: AddressBanRecord, message: str) -> int:
        closed = self.banned_here(ban, message)
        self._others.tell(AddressBanned(ban, message))
        return closed

    def banned_here(self, ban: AddressBanRecord, message: str) -> int:
        """:meth:`address_banned` on this process's connections only."""
        self._bans.add(ban)
        network = parse_network(ban.network)

        def banned(address: str) -> bool:
            ip = client_ip(address)
            return ip is not None and covers(network, ip)

        return self._connections.close_where(banned, ByeReason.ADDRESS_BANNED, message)

    def address_unbanned(self, network: str) -> None:
        self._bans.remove(network)
        self._others.tell(AddressUnbanned(network))


def _update(table: AccountSanctions, sanction: AccountSanctionRecord | None, user_id: int) -> None:
    if sanction is None:
        table.remove(user_id)
    else:
        table.add(sanction)
