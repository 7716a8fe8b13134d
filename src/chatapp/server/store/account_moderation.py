"""Server moderation of accounts and addresses (part of :class:`~.store.Store`): suspensions and
server-wide mutes, roles, listing users, ending all of a user's sessions, address bans.

Rare, staff-driven work: plain ORM units of work. A sanction whose ``until`` has passed is as good
as none: every read leaves it out (and setting a new one replaces it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, and_, delete, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from .backend import Backend
from .models import AccountSanction, AddressBan, User, UserSession
from .orm_ops import NO_SYNC
from .records import AccountSanctionRecord, AddressBanRecord, UserSummaryRecord
from .session_ops import aware

SANCTION_KINDS = frozenset({"suspend", "mute"})


def _in_force(until: Any, now: datetime) -> ColumnElement[bool]:
    return or_(until.is_(None), until > now)


def _escape_like(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class AccountModeration:
    _backend: Backend

    # -- account sanctions -------------------------------------------------------

    async def set_account_sanction(
        self,
        user_id: int,
        kind: str,
        *,
        reason: str | None,
        actor: str,
        now: datetime,
        until: datetime | None,
    ) -> None:
        """Suspend (``kind`` "suspend") or mute ("mute") an account, replacing one in force."""
        if kind not in SANCTION_KINDS:
            raise ValueError(f"not an account sanction: {kind!r}")
        async with self._backend.writing() as session:
            await session.execute(
                delete(AccountSanction).where(
                    AccountSanction.user_id == user_id, AccountSanction.kind == kind
                )
            )
            await session.execute(
                insert(AccountSanction).values(
                    user_id=user_id,
                    kind=kind,
                    reason=reason,
                    actor=actor,
                    created_at=aware(now),
                    until=aware(until) if until is not None else None,
                )
            )

    async def lift_account_sanction(self, user_id: int, kind: str, now: datetime) -> bool:
        """Lift a suspension or a mute; False if none was in force (an expired one is removed too)."""
        async with self._backend.writing() as session:
            result = await session.execute(
                delete(AccountSanction)
                .where(AccountSanction.user_id == user_id, AccountSanction.kind == kind)
                .returning(AccountSanction.until)
            )
            rows = list(result)
        return any(row.until is None or row.until > aware(now) for row in rows)

    async def account_sanction(self, user_id: int, kind: str, now: datetime) -> AccountSanctionRecord | None:
        """The suspension or mute of an account in force, if any."""
        found = await self.account_sanctions(kind, now, user_id=user_id)
        return found[0] if found else None

    async def account_sanctions(
        self, kind: str, now: datetime, *, user_id: int | None = None
    ) -> list[AccountSanctionRecord]:
        """Every sanction of ``kind`` in force (what the server keeps in memory), or one user's."""
        query = (
            select(AccountSanction, User.username)
            .join(User, User.id == AccountSanction.user_id)
            .where(AccountSanction.kind == kind, _in_force(AccountSanction.until, aware(now)))
            .order_by(AccountSanction.user_id)
        )
        if user_id is not None:
            query = query.where(AccountSanction.user_id == user_id)
        async with self._backend.reading() as session:
            rows = (await session.execute(query)).all()
        return [
            AccountSanctionRecord(
                user_id=row.AccountSanction.user_id,
                username=row.username,
                kind=row.AccountSanction.kind,
                reason=row.AccountSanction.reason,
                actor=row.AccountSanction.actor,
                created_at=row.AccountSanction.created_at,
                until=row.AccountSanction.until,
            )
            for row in rows
        ]

    # -- roles and users ---------------------------------------------------------

    async def set_role(self, user_id: int, role: str) -> None:
        async with self._backend.writing() as session:
            await session.execute(
                update(User).where(User.id == user_id).values(role=role), execution_options=NO_SYNC
            )

    async def list_users(
        self, *, query: str | None, after: str | None, limit: int, now: datetime
    ) -> tuple[list[UserSummaryRecord], bool]:
        """Accounts by name (case-insensitive order), those whose name contains ``query`` (any
        case), after the name ``after``; at most ``limit``, and whether there are more."""
        suspension = (
            select(AccountSanction.until)
            .where(
                AccountSanction.user_id == User.id,
                AccountSanction.kind == "suspend",
                _in_force(AccountSanction.until, aware(now)),
            )
            .correlate(User)
        )
        statement = (
            select(
                User.id,
                User.username,
                User.role,
                User.created_at,
                User.display_name,
                suspension.exists().label("suspended"),
                suspension.scalar_subquery().label("suspended_until"),
            )
            .order_by(User.username_key)
            .limit(limit + 1)
        )
        if query:
            pattern = f"%{_escape_like(query.lower())}%"
            statement = statement.where(User.username_key.like(pattern, escape="\\"))
        if after is not None:
            statement = statement.where(User.username_key > after.lower())
        async with self._backend.reading() as session:
            rows = (await session.execute(statement)).all()
        users = [
            UserSummaryRecord(
                id=row.id,
                username=row.username,
                role=row.role,
                created_at=row.created_at,
                display_name=row.display_name,
                suspended=bool(row.suspended),
                suspended_until=_utc(row.suspended_until),
            )
            for row in rows[:limit]
        ]
        return users, len(rows) > limit

    async def revoke_all_sessions(self, user_id: int, reason: str, now: datetime) -> int:
        """End every live session of the user and revoke its token; how many there were."""
        now = aware(now)
        async with self._backend.writing() as session:
            result = await session.execute(
                update(UserSession)
                .where(
                    UserSession.user_id == user_id,
                    or_(UserSession.ended_at.is_(None), UserSession.expires_at > now),
                )
                .values(ended_at=now, end_reason=reason, expires_at=now),
                execution_options=NO_SYNC,
            )
            return int(cast(CursorResult[Any], result).rowcount)

    # -- address bans ------------------------------------------------------------

    async def add_address_ban(
        self, network: str, *, reason: str | None, actor: str, now: datetime, until: datetime | None
    ) -> AddressBanRecord:
        """Ban a normalised network, replacing a ban of the same network."""
        now = aware(now)
        async with self._backend.writing() as session:
            await session.execute(delete(AddressBan).where(AddressBan.network == network))
            await session.execute(
                insert(AddressBan).values(
                    network=network,
                    reason=reason,
                    actor=actor,
                    created_at=now,
                    until=aware(until) if until is not None else None,
                )
            )
        return AddressBanRecord(network, reason, actor, now, until)

    async def remove_address_ban(self, network: str, now: datetime) -> bool:
        """Lift a ban of exactly this network; False if none was in force."""
        async with self._backend.writing() as session:
            result = await session.execute(
                delete(AddressBan).where(AddressBan.network == network).returning(AddressBan.until)
            )
            rows = list(result)
        return any(row.until is None or row.until > aware(now) for row in rows)

    async def address_bans(self, now: datetime, *, limit: int | None = None) -> list[AddressBanRecord]:
        """The address bans in force, newest first; expired ones are deleted on the way."""
        now = aware(now)
        async with self._backend.writing() as session:
            await session.execute(
                delete(AddressBan).where(and_(AddressBan.until.is_not(None), AddressBan.until <= now))
            )
            query = select(AddressBan).order_by(AddressBan.id.desc())
            if limit is not None:
                query = query.limit(limit)
            rows = list(await session.scalars(query))
        return [
            AddressBanRecord(row.network, row.reason, row.actor, row.created_at, row.until) for row in rows
        ]


def _utc(value: datetime | None) -> datetime | None:
    """A timestamp read through a scalar subquery (which bypasses the column type) as aware UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
