"""Removing a message (``delete_message``): it stays in history as a tombstone without its text.

A room message may be removed by its sender or by the room's staff (the permission table's
``DELETE_MESSAGE``), a direct message by its sender only. A message the user cannot see (another
room's, another conversation's, or none at all) is ``no_such_message``, whichever it is. Those
who can see it get ``message_removed`` (the room's online members, or both parties of a direct
message); history pages and replays carry the tombstone from then on (``removed_by`` and an
empty ``text``), never the text. With several server processes the event reaches those online
on the others too (:class:`~chatapp.server.control_events.Others`).
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from chatapp.clock import utc_now
from chatapp.protocol import ErrorCode, ProtocolError, encode
from chatapp.protocol.moderation_frames import DeleteMessage, MessageRemoved
from chatapp.server import policy
from chatapp.server.control_events import ALONE, MessageGone, Others, RoomFrame, UsersFrame
from chatapp.server.hub import Hub
from chatapp.server.policy import Action, Role
from chatapp.server.services.audit import AuditTrail
from chatapp.server.services.room_access import sees_every_room
from chatapp.server.session import Session
from chatapp.server.store import MessageOrigin, Store

_NOT_SEEN = "there is no message {id} that you can see"


class MessageRemoval:
    def __init__(
        self,
        store: Store,
        hub: Hub,
        audit: AuditTrail,
        on_removed: Callable[[int], None] | None = None,
        others: Others = ALONE,
    ) -> None:
        self._store = store
        self._others = others
        self._hub = hub
        self._audit = audit
        self._on_removed = on_removed
        """Told each removed message's id (the downloads' cache forgets its file)."""

    async def remove(self, session: Session, frame: DeleteMessage) -> None:
        origin = await self._store.message_origin(frame.id)
        if origin is None or not self._sees(session, origin):
            raise ProtocolError(ErrorCode.NO_SUCH_MESSAGE, _NOT_SEEN.format(id=frame.id))
        author = origin.sender_id == session.user_id
        if origin.room_id is not None:
            role = None if author else await self._store.room_role(origin.room_id, session.user_id)
            policy.check(Action.DELETE_MESSAGE, session.roles(role), author=author)
        else:
            # Nobody's role reaches into a private conversation: only its sender may remove it.
            policy.check(Action.DELETE_MESSAGE, {Role.MEMBER}, author=author)
        removed = await self._store.remove_message(origin.id, session.username, utc_now())
        if removed and self._on_removed is not None:
            self._on_removed(origin.id)
        if removed:
            self._others.tell(MessageGone(origin.id))
        by = session.username if removed or origin.removed_by is None else origin.removed_by
        event = MessageRemoved(id=origin.id, by=by, room=origin.room)
        own = msgspec.structs.replace(event, ref=frame.ref)
        if not removed:
            session.send(own)  # removed already: the asker alone is answered
            return
        if not author:  # a moderator's removal; a sender taking back their own is not audited
            await self._audit.record(
                session.username,
                "delete_message",
                target=str(origin.id),
                room=origin.room,
                address=session.peer.address,
            )
        if origin.room is not None:
            self._hub.publish(origin.room, event, own=(session.user_id, own))
            self._others.tell(RoomFrame(origin.room, encode(event)))
            if origin.room not in session.room_ids:
                session.send(own)
        else:
            assert origin.recipient_id is not None
            parties = (origin.sender_id, origin.recipient_id)
            self._hub.send_to_users(parties, event, own=(session.user_id, own))
            self._others.tell(UsersFrame([origin.recipient_id], encode(event)))

    @staticmethod
    def _sees(session: Session, origin: MessageOrigin) -> bool:
        """Whether the user can see the message: a member of its room (server staff: any room),
        or a party to its conversation."""
        if origin.room is not None:
            return session.room_ids.get(origin.room) == origin.room_id or sees_every_room(session)
        return session.user_id in (origin.sender_id, origin.recipient_id)
