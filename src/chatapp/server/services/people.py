"""Finding users by name, and what one user may learn of another."""

from __future__ import annotations

from chatapp.clock import wire_timestamp
from chatapp.protocol import ErrorCode, ProtocolError, UserInfo
from chatapp.protocol.frame_base import Ref
from chatapp.server.hub import Hub
from chatapp.server.session import Session
from chatapp.server.store import Store, UserRecord

SHOWN_ROLES = frozenset({"admin", "moderator"})
"""The server roles ``whois`` shows (an ordinary user's is left out)."""
LOOKUP_MAX = 64
"""Longest name looked up (names are shorter; a longer one is just unknown, and is not echoed whole)."""


async def find_user(store: Store, username: str) -> UserRecord:
    """The user of that name (any case), or ``no_such_user``."""
    user = await store.find_user(username) if len(username) <= LOOKUP_MAX else None
    if user is None:
        raise ProtocolError(ErrorCode.NO_SUCH_USER, f"there is no user {username[:LOOKUP_MAX]!r}")
    return user


async def whois(store: Store, hub: Hub, asker: Session, username: str, ref: Ref) -> UserInfo:
    target = await find_user(store, username)
    online = hub.present(target.id)
    last_seen = None if online else await store.last_seen(target.id)
    common = await store.rooms_in_common(asker.user_id, target.id)
    profile = await store.profile(target.id)
    return UserInfo(
        username=target.username,
        online=online,
        member_since=wire_timestamp(target.created_at),
        last_seen=wire_timestamp(last_seen) if last_seen else None,
        away=hub.away(target.id),
        rooms_in_common=common,
        display_name=profile.display_name,
        bio=profile.bio,
        role=target.role if target.role in SHOWN_ROLES else None,
        ref=ref,
    )
