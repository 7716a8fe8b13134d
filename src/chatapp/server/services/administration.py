"""Server moderation and administration: one async method per action of the ``admin`` frame, and
the staff's lists (users, a user's sessions, address bans, the audit log).

Every method takes the :class:`Actor` (who acts, with which roles, from where)
and returns the answer frame (``admin_done``, ``user_list``, ...), or raises
:class:`~chatapp.protocol.ProtocolError` with a sentence. Each asks the
permission table first (:func:`chatapp.server.policy.check`, with the target's
roles for an action on a user), before it looks anything up, so a refusal tells
a user without the right nothing about who exists. Then it acts on the store,
records the audit event (never a password) and has its live effects.

Use::

    administration = Administration(config, store, audit, hashing, live=None)
    done = await administration.suspend(Actor.console(), "mallory", reason="spam", duration=3600)

``live`` (:class:`Live`) is a running server's part: closing the sessions of a
suspended or disconnected user (``bye`` within the same loop turn), updating a
promoted user's live role, the in-memory mutes, suspensions and address bans,
and closing connections from a newly banned range. Without it (``None``:
chatapp-admin on the database alone, no server running) every change is stored
and a server started later loads it. ``filters`` (:class:`FilterReloader`), the
server's content filter, serves ``reload_filters``; without it that action is
refused as not supported. ``others`` (:class:`~chatapp.server.control_events.Others`) are the
other server processes (``--redis-url``), told to reload their filters too.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

from chatapp.clock import utc_now
from chatapp.protocol import ByeReason, ErrorCode, ProtocolError
from chatapp.protocol.frame_base import Ref
from chatapp.protocol.moderation_frames import Admin, AdminDone, ServerAction
from chatapp.server.account_sanctions import described
from chatapp.server.address_bans import ban_message, normalise
from chatapp.server.config import Config
from chatapp.server.control_events import ALONE, FiltersReloaded, Others
from chatapp.server.passwords import PasswordHashing
from chatapp.server.policy import SERVER_ROLES, STORED_ROLES, Action, check, rank, roles_of
from chatapp.server.services.audit import AuditTrail
from chatapp.server.services.people import find_user
from chatapp.server.services.staff import Actor, FilterReloader, Live, reason_of, stamp, until_after
from chatapp.server.services.staff_lists import StaffLists
from chatapp.server.store import AccountSanctionRecord, Store, UserRecord

__all__ = ["Actor", "Administration", "FilterReloader", "Live"]

log = logging.getLogger("chatapp.administration")

RESET_PASSWORD_BYTES = 15
"""A reset password is this many random bytes, 20 characters of URL-safe base64 (120 bits)."""


class Administration(StaffLists):
    def __init__(
        self,
        config: Config,
        store: Store,
        audit: AuditTrail,
        hashing: PasswordHashing,
        live: Live | None = None,
        filters: FilterReloader | None = None,
        others: Others = ALONE,
    ) -> None:
        self._config = config
        self._store = store
        self._audit = audit
        self._hashing = hashing
        self._live = live
        self._filters = filters
        self._others = others

    # -- the admin frame -----------------------------------------------------------

    async def perform(self, actor: Actor, frame: Admin) -> AdminDone:
        """Do what an ``admin`` frame asks (the fields its action needs must be there)."""
        action, ref = frame.action, frame.ref
        if action in ("ban_address", "unban_address"):
            address = _required(frame.address, "address", action)
            if action == "ban_address":
                return await self.ban_address(
                    actor, address, reason=frame.reason, duration=frame.duration, ref=ref
                )
            return await self.unban_address(actor, address, ref=ref)
        if action == "reload_filters":
            return await self.reload_filters(actor, ref=ref)
        user = _required(frame.user, "user", action)
        if action == "suspend":
            return await self.suspend(actor, user, reason=frame.reason, duration=frame.duration, ref=ref)
        if action == "unsuspend":
            return await self.unsuspend(actor, user, ref=ref)
        if action == "mute":
            return await self.mute(actor, user, reason=frame.reason, duration=frame.duration, ref=ref)
        if action == "unmute":
            return await self.unmute(actor, user, ref=ref)
        if action == "disconnect":
            return await self.disconnect(actor, user, session=frame.session, ref=ref)
        if action == "promote":
            return await self.promote(actor, user, _required(frame.role, "role", action), ref=ref)
        assert action == "reset_password", action
        return await self.reset_password(actor, user, ref=ref)

    # -- actions on an account -------------------------------------------------------

    async def suspend(
        self,
        actor: Actor,
        user: str,
        *,
        reason: str | None = None,
        duration: int | None = None,
        ref: Ref = None,
    ) -> AdminDone:
        """Suspend an account: its connection is closed with ``bye`` ``account suspended``, every token
        of it revoked, and ``login``/``resume`` answer ``suspended`` until it ends or is lifted."""
        target = await self._target(actor, Action.SUSPEND, user)
        now = utc_now()
        reason, until = reason_of(reason), until_after(duration, now)
        await self._store.set_account_sanction(
            target.id, "suspend", reason=reason, actor=actor.name, now=now, until=until
        )
        sanction = AccountSanctionRecord(
            target.id, target.username, "suspend", reason, actor.name, now, until
        )
        if self._live is not None:
            self._live.suspended(sanction, target.id)  # from now on no sign-in of it gets through
        ended = await self._store.revoke_all_sessions(target.id, "suspended", now)
        if self._live is not None:
            self._live.end_sessions(target.id, ByeReason.SUSPENDED, described(sanction, "suspended"))
        await self._record(actor, Action.SUSPEND, target.username, reason)
        return AdminDone(action="suspend", user=target.username, until=stamp(until), count=ended, ref=ref)

    async def unsuspend(self, actor: Actor, user: str, *, ref: Ref = None) -> AdminDone:
        """Lift a suspension; ``count`` is 1 if one was in force, else 0."""
        return await self._lift(actor, user, Action.UNSUSPEND, "suspend", "unsuspend", ref)

    async def mute(
        self,
        actor: Actor,
        user: str,
        *,
        reason: str | None = None,
        duration: int | None = None,
        ref: Ref = None,
    ) -> AdminDone:
        """Mute an account server-wide: its ``send`` and ``dm`` are refused with ``muted``."""
        target = await self._target(actor, Action.SERVER_MUTE, user)
        now = utc_now()
        reason, until = reason_of(reason), until_after(duration, now)
        await self._store.set_account_sanction(
            target.id, "mute", reason=reason, actor=actor.name, now=now, until=until
        )
        if self._live is not None:
            sanction = AccountSanctionRecord(
                target.id, target.username, "mute", reason, actor.name, now, until
            )
            self._live.muted(sanction, target.id)
        await self._record(actor, Action.SERVER_MUTE, target.username, reason)
        return AdminDone(action="mute", user=target.username, until=stamp(until), ref=ref)

    async def unmute(self, actor: Actor, user: str, *, ref: Ref = None) -> AdminDone:
        """Lift a server-wide mute; ``count`` is 1 if one was in force, else 0."""
        return await self._lift(actor, user, Action.SERVER_UNMUTE, "mute", "unmute", ref)

    async def disconnect(
        self, actor: Actor, user: str, *, session: int | None = None, ref: Ref = None
    ) -> AdminDone:
        """End one session of the user (an id from ``user_sessions``), or all of them: the connection
        holding it gets ``bye`` ``disconnected by a moderator``, and its token is revoked."""
        target = await self._target(actor, Action.DISCONNECT, user)
        now = utc_now()
        if session is not None:
            if not await self._store.revoke_user_session(target.id, session, "disconnected", now):
                raise ProtocolError(
                    ErrorCode.NO_SUCH_SESSION, f"{target.username} has no session {session} that can be ended"
                )
            ended = 1
        else:
            ended = await self._store.revoke_all_sessions(target.id, "disconnected", now)
        if self._live is not None:
            message = f"disconnected by {actor.name}"
            self._live.end_sessions(target.id, ByeReason.DISCONNECTED, message, session_id=session)
        which = None if session is None else f"session {session}"
        await self._record(actor, Action.DISCONNECT, target.username, which)
        return AdminDone(action="disconnect", user=target.username, count=ended, ref=ref)

    async def promote(self, actor: Actor, user: str, role: str, *, ref: Ref = None) -> AdminDone:
        """Give the user a server role (``user`` demotes); a live session has it at once."""
        if role not in STORED_ROLES:
            raise ProtocolError(ErrorCode.BAD_FRAME, "role must be one of admin, moderator, user")
        target = await self._target(actor, Action.PROMOTE, user)
        if SERVER_ROLES[role] > rank(actor.roles):
            raise ProtocolError(ErrorCode.FORBIDDEN, "you cannot give a role above your own")
        await self._store.set_role(target.id, role)
        if self._live is not None:
            self._live.set_role(target.id, role)
        await self._record(actor, Action.PROMOTE, target.username, f"role {role} (was {target.role})")
        return AdminDone(action="promote", user=target.username, ref=ref)

    async def reset_password(self, actor: Actor, user: str, *, ref: Ref = None) -> AdminDone:
        """Give the account a new random password, returned once in ``password`` (never stored in
        clear, logged or audited); every session of it ends."""
        target = await self._target(actor, Action.RESET_PASSWORD, user)
        password = secrets.token_urlsafe(RESET_PASSWORD_BYTES)
        await self._store.set_password_hash(target.id, await self._hashing.hash(password))
        ended = await self._store.revoke_all_sessions(target.id, "password_reset", utc_now())
        if self._live is not None:
            message = f"your password was reset by {actor.name}"
            self._live.end_sessions(target.id, ByeReason.DISCONNECTED, message)
        await self._record(actor, Action.RESET_PASSWORD, target.username, None)
        return AdminDone(
            action="reset_password", user=target.username, count=ended, password=password, ref=ref
        )

    # -- addresses ---------------------------------------------------------------------

    async def ban_address(
        self,
        actor: Actor,
        address: str,
        *,
        reason: str | None = None,
        duration: int | None = None,
        ref: Ref = None,
    ) -> AdminDone:
        """Ban an address or CIDR range: new connections from it are refused at accept time, and
        those open now are closed (``count``)."""
        check(Action.BAN_ADDRESS, actor.roles)
        network = normalise(address)
        now = utc_now()
        reason, until = reason_of(reason), until_after(duration, now)
        ban = await self._store.add_address_ban(
            network, reason=reason, actor=actor.name, now=now, until=until
        )
        closed = 0
        if self._live is not None:
            closed = self._live.address_banned(ban, ban_message(ban))
        await self._record(actor, Action.BAN_ADDRESS, network, reason)
        return AdminDone(action="ban_address", address=network, until=stamp(until), count=closed, ref=ref)

    async def unban_address(self, actor: Actor, address: str, *, ref: Ref = None) -> AdminDone:
        """Lift the ban of exactly this address or range; ``count`` is 1 if one was in force."""
        check(Action.UNBAN_ADDRESS, actor.roles)
        network = normalise(address)
        lifted = await self._store.remove_address_ban(network, utc_now())
        if self._live is not None:
            self._live.address_unbanned(network)
        await self._record(actor, Action.UNBAN_ADDRESS, network, None)
        return AdminDone(action="unban_address", address=network, count=int(lifted), ref=ref)

    async def reload_filters(self, actor: Actor, *, ref: Ref = None) -> AdminDone:
        """Read the filter file again; ``count`` is its number of rules."""
        check(Action.RELOAD_FILTERS, actor.roles)
        if self._filters is None:
            raise ProtocolError(
                ErrorCode.UNKNOWN_TYPE,
                "this server has no message filters to reload (it was started without --filter-file)",
            )
        try:
            # Reading and compiling a file is blocking work: off the event loop.
            rules = await asyncio.get_running_loop().run_in_executor(None, self._filters.reload)
        except Exception as error:  # the filter's errors are sentences about the file
            # The server's file is at fault, not the request: server_error, which (unlike bad_frame)
            # does not count towards closing the connection of an admin who tries again.
            log.warning("the filters were not reloaded: %s", error)
            raise ProtocolError(ErrorCode.SERVER_ERROR, f"the filters were not reloaded: {error}") from None
        self._others.tell(FiltersReloaded())  # the other processes read their filter files too
        await self._record(actor, Action.RELOAD_FILTERS, None, f"{rules} rules")
        return AdminDone(action="reload_filters", count=rules, ref=ref)

    # -- helpers -------------------------------------------------------------------------

    async def _lift(
        self, actor: Actor, user: str, action: Action, kind: str, answer: ServerAction, ref: Ref
    ) -> AdminDone:
        """Lift the account sanction ``kind`` ("suspend" or "mute") of a user, stored and live."""
        target = await self._target(actor, action, user)
        lifted = await self._store.lift_account_sanction(target.id, kind, utc_now())
        if self._live is not None:
            lift_live = self._live.suspended if kind == "suspend" else self._live.muted
            lift_live(None, target.id)
        await self._record(actor, action, target.username, None)
        return AdminDone(action=answer, user=target.username, count=int(lifted), ref=ref)

    async def _target(self, actor: Actor, action: Action, user: str) -> UserRecord:
        """The user acted on, once the table allows the actor the action at all (checked first: a
        refusal tells nothing of who exists) and on this user (the actor must outrank them)."""
        check(action, actor.roles)
        target = await find_user(self._store, user)
        check(action, actor.roles, target=roles_of(target.role), self_target=target.id == actor.user_id)
        return target


def _required(value: str | None, field: str, action: str) -> str:
    if value is None:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"admin {action} needs '{field}'")
    return value
