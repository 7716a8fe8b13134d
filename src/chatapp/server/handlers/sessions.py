"""A signed-in user's own sessions: list them, end one (its token stops working).

Every query is scoped to the asking user in the store itself, so an id of
someone else's session is just an unknown id (``no_such_session``): nobody
can see or end another user's sessions, or learn that an id exists.
"""

from __future__ import annotations

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
from chatapp.server.services import Services
from chatapp.server.services.frames import fit
from chatapp.server.session import Goodbye, Session


async def on_list_sessions(session: Session, frame: ListSessions, services: Services) -> None:
    records = await services.store.live_sessions(session.user_id, utc_now(), SESSION_LIST_MAX)
    # The session online now, if any: one per account.
    online = services.hub.online(session.user_id)
    online_id = online.session_id if online is not None else None
    sessions = [
        SessionInfo(
            id=record.id,
            address=record.peer,
            created=wire_timestamp(record.created_at),
            last_seen=wire_timestamp(record.last_seen_at),
            current=record.id == session.session_id,
            connected=record.id == online_id,
        )
        for record in records
    ]
    # Most recently used first: what does not fit in one frame is the oldest.
    sessions, _ = fit(sessions, _size, services.config.max_frame, keep_newest=False)
    session.send(SessionList(sessions=sessions, ref=frame.ref))


def _size(info: SessionInfo) -> int:
    return len(encode(SessionList(sessions=[info])))


async def on_end_session(session: Session, frame: EndSession, services: Services) -> Goodbye | None:
    ended = await services.store.revoke_user_session(session.user_id, frame.id, "ended_by_user", utc_now())
    if not ended:
        raise ProtocolError(ErrorCode.NO_SUCH_SESSION, f"you have no session {frame.id} that can be ended")
    activity.record("session_ended", user=session.username, addr=session.endpoint, session=frame.id)
    session.send(SessionClosed(id=frame.id, ref=frame.ref))
    if frame.id == session.session_id:
        # Only one connection per account is online, so this one is the connection that holds
        # an ended session of this user, if any: it goes, like a quit.
        return Goodbye(ByeReason.SESSION_ENDED, "ended_by_user", revoke=True)
    return None
