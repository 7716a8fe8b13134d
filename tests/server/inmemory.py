"""Stand-ins for the socket side of a client, so the core's pure pieces run in memory.

:class:`MemorySink` takes writes as an asyncio transport would (with a buffer size
the test sets, for a client that does not read); :class:`MemoryLink` records what
the core asks of the transport (close, drain). Everything else is the real code.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from chatapp.protocol import AuthOk, ByeReason, Welcome, decode_server_frame
from chatapp.protocol.connection import ServerProtocol
from chatapp.server.ratelimit import TokenBucket
from chatapp.server.session import Budgets, Peer, Session, SignedIn
from chatapp.server.transport.delivery import Delivery

WELCOME = Welcome(server="chatapp", version=1, max_frame=65536, max_text=4000)


class MemorySink:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.buffered = 0
        """What the transport has not sent yet: a test sets it for a client that does not read."""
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def is_closing(self) -> bool:
        return self.closed

    def frames(self) -> list[object]:
        return [decode_server_frame(line) for data in self.writes for line in data.splitlines()]


class MemoryLink:
    def __init__(self) -> None:
        self.closed: list[tuple[ByeReason, str | None, bool]] = []

    def close(
        self,
        reason: ByeReason,
        *,
        end_reason: str | None = None,
        revoke: bool = False,
        message: str | None = None,
    ) -> None:
        self.closed.append((reason, end_reason, revoke))

    async def drain(self) -> None:
        pass

    def closes_in(self) -> float | None:
        return None


class Turns:
    """The event loop's ``call_soon`` for a :class:`Delivery`: the test ends each turn."""

    def __init__(self) -> None:
        self.scheduled: list[Callable[[], None]] = []

    def __call__(self, callback: Callable[[], None]) -> None:
        self.scheduled.append(callback)

    def end(self) -> None:
        scheduled, self.scheduled = self.scheduled, []
        for callback in scheduled:
            callback()


def make_peer(delivery: Delivery, *, limit: int = 1 << 20) -> tuple[Peer, MemorySink, MemoryLink]:
    """A greeted peer (its welcome already taken off the sink)."""
    sink, link = MemorySink(), MemoryLink()
    protocol = ServerProtocol(max_frame=65536, max_unauthenticated_frames=20, max_invalid_frames=3)
    peer = Peer(
        link, protocol, sink, delivery, send_queue_limit=limit, address="127.0.0.1", endpoint="127.0.0.1:5000"
    )
    peer.outbox.push(protocol.welcome(WELCOME))
    peer.outbox.flush()
    sink.writes.clear()
    return peer, sink, link


def budgets(now: float = 0.0, *, send: tuple[float, int] = (20.0, 60)) -> Budgets:
    return Budgets(send=TokenBucket(*send, now), status=TokenBucket(2.0, 20, now))


def make_session(
    delivery: Delivery,
    user_id: int = 1,
    username: str = "alice",
    *,
    limit: int = 1 << 20,
    rooms: dict[str, int] | None = None,
    session_budgets: Budgets | None = None,
) -> tuple[Session, MemorySink, MemoryLink]:
    """A signed-in session (``auth_ok`` already taken off the sink)."""
    peer, sink, link = make_peer(delivery, limit=limit)
    identity = SignedIn(user_id, username, "user", user_id * 10, "token")
    session = Session(
        peer,
        identity,
        rooms if rooms is not None else {"general": 1},
        session_budgets or budgets(),
        datetime(2024, 5, 1, tzinfo=UTC),
        limit,
    )
    peer.session = session
    peer.signed_in(AuthOk(username=username, token="token"))
    peer.outbox.flush()
    sink.writes.clear()
    return session, sink, link
