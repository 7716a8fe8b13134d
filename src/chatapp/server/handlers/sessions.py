"""A signed-in user's own sessions: list them, end one (its token stops working).

Every query is scoped to the asking user in the store itself, so an id of
someone else's session is just an unknown id (``no_such_session``): nobody
can see or end another user's sessions, or learn that an id exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatapp.clock import utc_now, wire_timestamp
from chatapp.protocol import (
    ByeReason,
    EndSession,
    ErrorCode,
    ListSessions,
    ProtocolError,
    SessionClosed,
    SessionInfo,
    SessionList,
    encode,
)
from chatapp.protocol.limits import SESSION_LIST_MAX
from chatapp.server import activity
from chatapp.server.handlers.common import fit

if TYPE_CHECKING:
    from chatapp.server.connection import Connection


async def on_list_sessions(conn: Connection, frame: ListSessions) -> None:
    user = conn.user
    records = await conn.services.store.live_sessions(user.user_id, utc_now(), SESSION_LIST_MAX)
    # The session online now, if any: the hub keeps one connection per account.
    online = getattr(conn.services.hub.online(user.user_id), "session_id", None)
    sessions = [
        SessionInfo(
            id=record.id,
            address=record.peer,
            created=wire_timestamp(record.created_at),
            last_seen=wire_timestamp(record.last_seen_at),
            current=record.id == user.session_id,
            connected=record.id == online,
        )
        for record in records
    ]
    # Most recently used first: what does not fit in one frame is the oldest.
    sessions, _ = fit(sessions, _size, conn.config.max_frame, keep_newest=False)
    conn.send(SessionList(sessions=sessions, ref=frame.ref))


def _size(info: SessionInfo) -> int:
    return len(encode(SessionList(sessions=[info])))


async def on_end_session(conn: Connection, frame: EndSession) -> None:
    user = conn.user
    ended = await conn.services.store.revoke_user_session(user.user_id, frame.id, "ended_by_user", utc_now())
    if not ended:
        raise ProtocolError(ErrorCode.NO_SUCH_SESSION, f"you have no session {frame.id} that can be ended")
    activity.record("session_ended", user=user.username, addr=conn.peer, session=frame.id)
    conn.send(SessionClosed(id=frame.id, ref=frame.ref))
    if frame.id == user.session_id:
        # Only one connection per account is online, so this one is the connection that holds
        # an ended session of this user, if any: it goes, like a quit.
        conn.close(ByeReason.SESSION_ENDED, end_reason="ended_by_user", revoke=True)
