"""People: who someone is, and one's own away status."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatapp.clock import wire_timestamp
from chatapp.protocol import Away, UserInfo, Whois
from chatapp.protocol.rules import check_away
from chatapp.server.handlers.chat import _find_user

if TYPE_CHECKING:
    from chatapp.server.connection import Connection


async def on_whois(conn: Connection, frame: Whois) -> None:
    target = await _find_user(conn, frame.username)
    store = conn.services.store
    hub = conn.services.hub
    online = hub.online(target.id) is not None
    last_seen = None if online else await store.last_seen(target.id)
    common = await store.rooms_in_common(conn.user.user_id, target.id)
    conn.send(
        UserInfo(
            username=target.username,
            online=online,
            member_since=wire_timestamp(target.created_at),
            last_seen=wire_timestamp(last_seen) if last_seen else None,
            away=hub.away(target.id),
            rooms_in_common=common,
            ref=frame.ref,
        )
    )


async def on_away(conn: Connection, frame: Away) -> None:
    check_away(frame.text)
    conn.take_status_token()
    text = frame.text.strip() if frame.text else None
    conn.services.hub.set_away(conn, text or None, frame.ref)
