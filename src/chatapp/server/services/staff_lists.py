"""The staff's lists (part of :class:`~.administration.Administration`): accounts, a user's
sessions with their addresses, address bans, and the audit log. Each asks the permission table
first; only looking at someone's addresses is audited."""

from __future__ import annotations

import msgspec

from chatapp.clock import utc_now, wire_timestamp
from chatapp.protocol import ErrorCode, ProtocolError, SessionInfo, SessionList
from chatapp.protocol.frame_base import Ref
from chatapp.protocol.limits import SEARCH_MAX, SESSION_LIST_MAX, USERNAME_MAX
from chatapp.protocol.moderation_frames import (
    AddressBanInfo,
    AddressBanList,
    AuditPage,
    UserList,
    UserSummary,
)
from chatapp.server.config import Config
from chatapp.server.policy import STORED_ROLES, Action, check
from chatapp.server.services.audit import AuditTrail, audit_entry
from chatapp.server.services.frames import fit, reply_budget
from chatapp.server.services.people import find_user
from chatapp.server.services.staff import Actor, Live, page_limit, stamp
from chatapp.server.store import Store


class StaffLists:
    _config: Config
    _store: Store
    _live: Live | None

    _audit: AuditTrail

    async def _record(self, actor: Actor, action: Action, target: str | None, reason: str | None) -> None:
        """The audit event of an action (its address: where the actor is connected from)."""
        await self._audit.record(
            actor.name, action.value, target=target, reason=reason, address=actor.address
        )

    # -- the staff's lists -------------------------------------------------------------

    async def users(
        self,
        actor: Actor,
        *,
        query: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        ref: Ref = None,
    ) -> UserList:
        """A page of accounts by name, those whose name contains ``query`` (any case)."""
        check(Action.LIST_USERS, actor.roles)
        if query is not None and len(query) > SEARCH_MAX:
            raise ProtocolError(ErrorCode.BAD_FRAME, f"a search is at most {SEARCH_MAX} characters")
        if after is not None and len(after) > USERNAME_MAX:
            raise ProtocolError(
                ErrorCode.BAD_FRAME, f"'after' is a username (at most {USERNAME_MAX} characters)"
            )
        records, more = await self._store.list_users(
            query=query, after=after, limit=page_limit(limit), now=utc_now()
        )
        live = self._live
        users = [
            UserSummary(
                username=record.username,
                role=record.role if record.role in STORED_ROLES else "user",  # type: ignore[arg-type]
                created=wire_timestamp(record.created_at),
                online=live is not None and live.online_session(record.id) is not None,
                display_name=record.display_name,
                suspended_until=(stamp(record.suspended_until) or "") if record.suspended else None,
            )
            for record in records
        ]
        # A page is cut short (and says there is more) where a small --max-frame would not hold it.
        users, cut = fit(users, _encoded_size, reply_budget(self._config.max_frame, ref), keep_newest=False)
        return UserList(users=users, has_more=more or cut, ref=ref)

    async def user_sessions(self, actor: Actor, user: str, *, ref: Ref = None) -> SessionList:
        """The user's sessions that can still be used, with the addresses they were used from."""
        check(Action.USER_SESSIONS, actor.roles)
        target = await find_user(self._store, user)
        records = await self._store.live_sessions(target.id, utc_now(), SESSION_LIST_MAX)
        online = self._live.online_session(target.id) if self._live is not None else None
        sessions = [
            SessionInfo(
                id=record.id,
                address=record.peer,
                created=wire_timestamp(record.created_at),
                last_seen=wire_timestamp(record.last_seen_at),
                connected=record.id == online,
            )
            for record in records
        ]
        budget = reply_budget(self._config.max_frame, ref) - len(target.username) - 16
        sessions, _ = fit(sessions, _encoded_size, budget, keep_newest=False)
        await self._record(actor, Action.USER_SESSIONS, target.username, None)
        return SessionList(sessions=sessions, user=target.username, ref=ref)

    async def address_bans(self, actor: Actor, *, ref: Ref = None) -> AddressBanList:
        """The address bans in force, newest first (as many as fit in a frame)."""
        check(Action.LIST_ADDRESS_BANS, actor.roles)
        records = await self._store.address_bans(utc_now())
        bans = [
            AddressBanInfo(
                address=record.network,
                since=wire_timestamp(record.created_at),
                by=record.actor,
                reason=record.reason,
                until=stamp(record.until),
            )
            for record in records
        ]
        bans, _ = fit(bans, _encoded_size, reply_budget(self._config.max_frame, ref), keep_newest=False)
        return AddressBanList(bans=bans, ref=ref)

    async def audit(
        self, actor: Actor, *, before: int | None = None, limit: int | None = None, ref: Ref = None
    ) -> AuditPage:
        """A page of the audit log, newest first, older than event ``before``."""
        check(Action.READ_AUDIT, actor.roles)
        records, more = await self._store.audit_page(before=before, limit=page_limit(limit))
        events = [audit_entry(record) for record in records]
        events, cut = fit(events, _encoded_size, reply_budget(self._config.max_frame, ref), keep_newest=False)
        return AuditPage(events=events, has_more=more or cut, ref=ref)


def _encoded_size(item: msgspec.Struct) -> int:
    return len(msgspec.json.encode(item))
