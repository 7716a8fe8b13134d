"""Moderating a room: acting on a user (``moderate``), making it private or public, deleting it,
listing its bans and mutes.

Every action goes the same way: find the room (as the actor may see it) and the target, ask the
permission table (:func:`chatapp.server.policy.check`) with both users' roles in the room, apply
it in the store (and in the sanctions cache), tell the room (a ``room_event`` to its online
members, the target and the actor wherever they are; the actor's copy carries ``ref``), then
record it in the audit trail. A kick or a ban takes the user out of the room at once: the stored
membership, the hub and the session's rooms.

With several server processes (``--redis-url``) each effect is also told to the others
(:class:`~chatapp.server.control_events.Others`), after the store has it: the event to their
members, the kicked or banned user taken out on the process holding them, the room's sanctions read
again, a deleted room closed for their members.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from chatapp.clock import utc_now, wire_timestamp
from chatapp.protocol import ErrorCode, ProtocolError, encode
from chatapp.protocol.frame_base import Ref
from chatapp.protocol.limits import DEFAULT_ROOM
from chatapp.protocol.moderation_frames import (
    DeleteRoom,
    ListSanctions,
    Moderate,
    RoomDeleted,
    RoomEvent,
    RoomEventAction,
    RoomMode,
    SanctionInfo,
    SanctionList,
)
from chatapp.protocol.rules import check_reason
from chatapp.server import policy
from chatapp.server.control_events import (
    ALONE,
    ControlEvent,
    Others,
    PutOut,
    RoomClosed,
    RoomFrame,
    RoomSanctionsChanged,
    UsersFrame,
)
from chatapp.server.hub import Hub
from chatapp.server.policy import Action
from chatapp.server.services.audit import AuditTrail
from chatapp.server.services.frames import fit, reply_budget
from chatapp.server.services.people import find_user
from chatapp.server.services.room_access import roles_in, visible_room
from chatapp.server.services.room_sanctions import BAN, MUTE, RoomSanctions
from chatapp.server.session import Session
from chatapp.server.store import RoomRecord, SanctionRecord, Store, StoredMessage, UserRecord

_SETTLE = 5.0
"""Seconds a room's deletion waits for messages to it that are being committed."""
_SANCTIONS = {"ban": BAN, "mute": MUTE, "unban": BAN, "unmute": MUTE}
"""The actions that change a room's sanctions, and which kind."""
_TIMED = frozenset({"ban", "mute"})


@dataclass(frozen=True, slots=True)
class _Target:
    user: UserRecord
    member: bool
    """A member of the room when the action was taken."""


class RoomModeration:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        sanctions: RoomSanctions,
        audit: AuditTrail,
        max_frame: int,
        others: Others = ALONE,
    ) -> None:
        self._store = store
        self._others = others
        self._hub = hub
        self._sanctions = sanctions
        self._audit = audit
        self._max_frame = max_frame

    # -- moderate ------------------------------------------------------------------

    async def moderate(self, session: Session, frame: Moderate) -> None:
        check_reason(frame.reason)
        if frame.duration is not None and frame.action not in _TIMED:
            raise ProtocolError(ErrorCode.BAD_FRAME, "a duration is only for 'ban' and 'mute'")
        store = self._store
        room = await visible_room(store, session, frame.room)
        action = Action(frame.action)
        actor_roles = await roles_in(store, session, room)
        policy.check(action, actor_roles)  # before looking the target up: strangers learn nothing
        user = await find_user(store, frame.user)
        target_role = await store.room_role(room.id, user.id)
        policy.check(
            action,
            actor_roles,
            target=policy.roles_of(user.role, target_role),
            self_target=user.id == session.user_id,
        )
        now = utc_now()
        until = now + timedelta(seconds=frame.duration) if frame.duration is not None else None
        target = _Target(user, await store.is_member(room.id, user.id))
        await self._apply(session, room, frame, target, target_role, now, until)
        event = RoomEvent(
            room=room.name,
            action=frame.action,
            by=session.username,
            user=user.username,
            reason=frame.reason,
            until=None if until is None else wire_timestamp(until),
        )
        # Recorded before it is told: whoever hears of it can find it in the audit log.
        await self._audit.record(
            session.username,
            frame.action,
            target=user.username,
            room=room.name,
            reason=frame.reason,
            address=session.peer.address,
        )
        told = self._tell(session, room, event, frame.ref, target)
        if frame.action in _SANCTIONS:
            told.insert(0, RoomSanctionsChanged(room.name))  # in force there before anyone hears of it
        if frame.action in ("kick", "ban") and target.member:
            put_out(self._hub, user.id, room.name)
            told.append(PutOut(user.id, room.name))  # on the process holding them online
        self._others.tell(*told)

    async def _apply(
        self,
        session: Session,
        room: RoomRecord,
        frame: Moderate,
        target: _Target,
        target_role: str | None,
        now: datetime,
        until: datetime | None,
    ) -> None:
        store, user, action = self._store, target.user, frame.action
        if action in ("kick", "op", "transfer") and not target.member:
            raise ProtocolError(ErrorCode.NOT_IN_ROOM, f"{user.username} is not in room {room.name!r}")
        if action in ("op", "transfer") and target_role == "owner":
            raise ProtocolError(ErrorCode.FORBIDDEN, f"{user.username} owns room {room.name!r} already")
        if action == "deop" and target_role == "owner":
            raise ProtocolError(
                ErrorCode.FORBIDDEN, "the owner cannot be deopped: transfer the room to someone else instead"
            )
        if action == "kick":
            await store.leave_room(user.id, room.id)
        elif action in ("ban", "mute"):
            # Loaded before the store changes, so that the cache never misses the change.
            await self._sanctions.of_room(room.name, room.id)
            record = await store.set_sanction(
                room.id,
                user.id,
                _SANCTIONS[action],
                actor=session.username,
                reason=frame.reason,
                now=now,
                until=until,
            )
            self._sanctions.put(room.name, record)
        elif action in ("unban", "unmute"):
            await self._sanctions.of_room(room.name, room.id)
            await store.lift_sanction(room.id, user.id, _SANCTIONS[action], now)
            self._sanctions.drop(room.name, user.id, _SANCTIONS[action])
        elif action == "op":
            await store.add_operator(room.id, user.id, session.username, now)
        elif action == "deop":
            await store.remove_operator(room.id, user.id)
        elif action == "transfer":
            await store.transfer_room(room.id, user.id, session.username, now)
        elif action == "invite":
            await store.invite(room.id, user.id, session.username, now)
        else:
            assert action == "uninvite", action
            await store.uninvite(room.id, user.id)

    def _tell(
        self, session: Session, room: RoomRecord, event: RoomEvent, ref: Ref, target: _Target | None
    ) -> list[ControlEvent]:
        """The event to the room's online members, the target and the actor wherever they are: here,
        and what tells the other processes (for the caller to tell, with the rest of the action)."""
        own = msgspec.structs.replace(event, ref=ref)
        self._hub.publish(room.name, event, own=(session.user_id, own))
        if room.name not in session.room_ids:
            session.send(own)
        told: list[ControlEvent] = [RoomFrame(room.name, encode(event))]
        if target is not None and not target.member and target.user.id != session.user_id:
            self._hub.send_to_users((target.user.id,), event)
            told.append(UsersFrame([target.user.id], encode(event)))
        return told

    # -- the room itself -----------------------------------------------------------

    async def set_mode(self, session: Session, frame: RoomMode) -> None:
        room = await visible_room(self._store, session, frame.room)
        policy.check(Action.ROOM_MODE, await roles_in(self._store, session, room))
        await self._store.set_private(room.id, frame.private)
        action: RoomEventAction = "private" if frame.private else "public"
        event = RoomEvent(room=room.name, action=action, by=session.username)
        await self._audit.record(
            session.username, f"make_{action}", room=room.name, address=session.peer.address
        )
        self._others.tell(*self._tell(session, room, event, frame.ref, None))

    async def delete_room(self, session: Session, frame: DeleteRoom) -> None:
        check_reason(frame.reason)
        room = await visible_room(self._store, session, frame.room)
        policy.check(Action.DELETE_ROOM, await roles_in(self._store, session, room))
        if room.name == DEFAULT_ROOM:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"room {DEFAULT_ROOM!r} cannot be deleted")
        deleted = RoomDeleted(room=room.name, by=session.username, reason=frame.reason)
        own = msgspec.structs.replace(deleted, ref=frame.ref)
        self._hub.publish(room.name, deleted, own=(session.user_id, own))
        if room.name not in session.room_ids:
            session.send(own)
        # The other processes' members are told and taken out too (they submit nothing more to it;
        # on PostgreSQL, the only database of several processes, a message of theirs already on
        # its way is not refused by a foreign key: it is deleted with the room or, committed just
        # after, kept unseen under the gone room's id).
        self._others.tell(RoomClosed(room.name, encode(deleted)))
        # Out of the room in memory first, so that no new message is submitted to it; then the
        # messages already on their way are let in: one committed after the room is gone would
        # break its foreign key and fail the whole batch it is written with.
        pending = close_room(self._hub, room.name)
        if pending:
            await asyncio.wait(pending, timeout=_SETTLE)
        await self._store.delete_room(room.id)
        self._sanctions.forget(room.name)
        # A room of that name made later starts clean there too.
        self._others.tell(RoomSanctionsChanged(room.name))
        await self._audit.record(
            session.username, "delete_room", room=room.name, reason=frame.reason, address=session.peer.address
        )

    async def list_sanctions(self, session: Session, frame: ListSanctions) -> SanctionList:
        room = await visible_room(self._store, session, frame.room)
        policy.check(Action.LIST_SANCTIONS, await roles_in(self._store, session, room))
        records = await self._sanctions.in_room(room.name, room.id)
        infos, _ = fit(
            [_info(record) for record in records],
            lambda info: len(info.user) + len(info.reason or "") * 6 + 160,
            reply_budget(self._max_frame, frame.ref),
            keep_newest=False,
        )
        return SanctionList(room=room.name, sanctions=infos, ref=frame.ref)


def put_out(hub: Hub, user_id: int, room: str) -> None:
    """Take a user online here out of a room they were kicked or banned from."""
    member = hub.online(user_id)
    if isinstance(member, Session) and room in member.room_ids:
        hub.leave(member, room)
        member.room_ids.pop(room, None)


def close_room(hub: Hub, room: str) -> list[asyncio.Future[StoredMessage]]:
    """Take every member online here out of a deleted room (told already); the last commit of each
    who has messages on their way."""
    pending: list[asyncio.Future[StoredMessage]] = []
    for member in hub.close_room(room):
        if isinstance(member, Session):
            member.room_ids.pop(room, None)
            if member.uncommitted and member.last_commit is not None:
                pending.append(member.last_commit)
    return pending


def _info(record: SanctionRecord) -> SanctionInfo:
    return SanctionInfo(
        user=record.username,
        kind="ban" if record.kind == BAN else "mute",
        since=wire_timestamp(record.created_at),
        by=record.actor,
        reason=record.reason,
        until=None if record.until is None else wire_timestamp(record.until),
    )
