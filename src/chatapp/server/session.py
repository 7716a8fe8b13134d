"""A connected client and its signed-in session, as the core sees them, whatever the transport.

:class:`Peer` is one connected client: the transport's :class:`Link` (close,
drain), the protocol object that turns frames into bytes and judges what the
client sends (:class:`~chatapp.protocol.connection.ServerProtocol`), and the
client's :class:`~chatapp.server.transport.delivery.Outbox`. Sign-in handlers
answer through it.

:class:`Session` is the server-side state of a signed-in user on one peer: who
it is, its rooms, its budgets, the seen cursor (the highest message id handed
to it) and the hold-back of live deliveries while stored messages are replayed.
It is what the hub holds as a member, and what every other handler works on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chatapp.protocol import AuthOk, ByeReason, Direct, HistoryPage, Message, ProtocolError, ServerFrame
from chatapp.protocol.connection import ServerProtocol
from chatapp.protocol.frame_base import Ref
from chatapp.protocol.states import State
from chatapp.server import activity
from chatapp.server.policy import STORED_ROLES, Role, roles_of
from chatapp.server.ratelimit import TokenBucket
from chatapp.server.store import StoredMessage
from chatapp.server.transport.delivery import Delivery, Outbox, Parts, Sink


class Link(Protocol):
    """What the core may ask of the transport that carries one client."""

    def close(
        self,
        reason: ByeReason,
        *,
        end_reason: str | None = None,
        revoke: bool = False,
        message: str | None = None,
    ) -> None:
        """Say ``bye`` with ``reason`` (and ``message``, a sentence for the user) and close.
        ``end_reason`` (default: the reason's name) is recorded on the session; ``revoke`` ends its
        token too. Only the first call counts."""
        ...

    async def drain(self) -> None:
        """Wait until the client has taken most of what was sent (flow control for long replays)."""
        ...

    def closes_in(self) -> float | None:
        """Seconds until this link is closed for silence if nothing more comes from the client (a frozen
        one: a dead ssh, a laptop asleep); None if it never is."""
        ...


class Peer:
    """One connected client, signed in or not."""

    __slots__ = ("link", "protocol", "outbox", "address", "endpoint", "session")

    def __init__(
        self,
        link: Link,
        protocol: ServerProtocol,
        sink: Sink,
        delivery: Delivery,
        *,
        send_queue_limit: int,
        address: str,
        endpoint: str,
    ) -> None:
        self.link = link
        self.protocol = protocol
        self.outbox = Outbox(sink, send_queue_limit, delivery, self.overflowed)
        self.address = address
        """The client's IP address (what limits per address count)."""
        self.endpoint = endpoint
        """``host:port``, for the activity log and the session's record."""
        self.session: Session | None = None
        """Set when the client signs in (and kept after it leaves, so that its session is ended)."""

    @property
    def closing(self) -> bool:
        # A property, not a comparison inline: handlers await, and the link may close meanwhile.
        return self.protocol.state is State.CLOSED

    def send(self, frame: ServerFrame) -> None:
        """Send a frame to this client (nothing once the goodbye is said)."""
        if self.protocol.state is not State.CLOSED:
            self.outbox.push(self.protocol.send(frame))

    def send_encoded(self, data: bytes) -> None:
        """Send frames encoded already (pages of a replay, encoded off the event loop)."""
        if self.protocol.state is not State.CLOSED:
            self.outbox.push(data)

    def signed_in(self, frame: AuthOk) -> None:
        """Answer a successful sign-in; from now on the client's other frames are allowed."""
        self.outbox.push(self.protocol.signed_in(frame))

    def refuse(self, error: ProtocolError, ref: Ref = None) -> None:
        """Answer a refused frame with an ``error``; a run of garbage closes the connection."""
        data, close = self.protocol.refuse(error, ref)
        if data:
            self.outbox.push(data)
        if close is not None:
            self.link.close(close)

    def overflowed(self) -> None:
        """The client fell too far behind: cut it off (the others never wait for it)."""
        session = self.session
        activity.record(
            "send_queue_exceeded",
            logging.WARNING,
            user=session.username if session is not None else None,
            addr=self.endpoint,
        )
        self.link.close(ByeReason.SEND_QUEUE_EXCEEDED)


@dataclass(frozen=True, slots=True)
class Goodbye:
    """What a handler returns to end its client's connection: the transport says ``bye`` and closes."""

    reason: ByeReason
    end_reason: str
    """Recorded on the session's row."""
    revoke: bool = False
    """End the session's token too (a quit): it no longer resumes."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who a client is, once its credentials or token are checked."""

    user_id: int
    username: str
    role: str
    session_id: int
    token: str | None
    """The resume token, set when this sign-in created it (login, register)."""


@dataclass(slots=True)
class Budgets:
    """A session's own rate limits (see :class:`chatapp.server.services.limits.Limits`)."""

    send: TokenBucket
    status: TokenBucket
    """Joining, leaving, away/back and topics each fan out to whole rooms: a budget of their own."""
    keys: KeyBudgets | None = None
    """End-to-end encryption's requests, made on first use (most sessions never publish a key)."""


@dataclass(slots=True)
class KeyBudgets:
    """A session's budgets for the requests of end-to-end encryption (each writes or reads keys)."""

    publish: TokenBucket
    claim: TokenBucket
    devices: TokenBucket


class Session:
    """A signed-in user on one peer."""

    def __init__(
        self,
        peer: Peer,
        identity: SignedIn,
        rooms: dict[str, int],
        budgets: Budgets,
        online_since: datetime,
        send_queue_limit: int,
    ) -> None:
        self.peer = peer
        self.identity = identity
        # The hub's Member attributes, copied: read in its loops.
        self.user_id = identity.user_id
        self.username = identity.username
        self.session_id = identity.session_id
        self.endpoint = peer.endpoint
        self.online_since = online_since
        self.room_ids = dict(rooms)
        """The rooms this user is a member of, by name, with their store ids."""
        self.budgets = budgets
        self.server_role = identity.role if identity.role in STORED_ROLES else "user"
        """The account's server role (``admin``, ``moderator``, ``user``; ``console`` for
        chatapp-admin's control connection): a promotion changes it while the session lives."""
        self.delivered_id = 0
        """The highest message id handed to this client directly (replays, history, echoes)."""
        self.handed_over = False
        """A resume of this same session took over on another peer: the session row lives on."""
        self.uncommitted = 0
        """Messages of this session waiting for their commit."""
        self.last_commit: asyncio.Future[StoredMessage] | None = None  # commits resolve in order
        self._limit = send_queue_limit
        self._held: list[tuple[bytes, int]] | None = None  # live deliveries waiting for a replay
        self._held_bytes = 0
        self._replayed_ids: set[int] = set()
        self._floor = 0  # see _deliver_above_floor
        # The fan-out loop calls this once per recipient: normally straight into the outbox.
        self.deliver: Callable[[bytes, int, Parts | None], None] = peer.outbox.push

    @property
    def closing(self) -> bool:
        return self.peer.closing

    def closes_in(self) -> float | None:
        """How long this session lasts at most if its client has gone silent (:meth:`Link.closes_in`)."""
        return self.peer.link.closes_in()

    def roles(self, room_role: str | None = None) -> frozenset[Role]:
        """The user's roles for the permission table (:mod:`chatapp.server.policy`): the server
        role, and ``room_role`` (``owner``, ``operator``) in the room acted in."""
        return roles_of(self.server_role, room_role)

    async def drain(self) -> None:
        """Wait until the client has taken most of what was sent (between pages of a replay)."""
        await self.peer.link.drain()

    def send(self, frame: ServerFrame) -> None:
        self.peer.send(frame)

    def send_message(self, frame: Message | Direct, message_id: int) -> None:
        """Send a message to this client alone (a replay, a de-duplicated echo)."""
        self._note_sent(message_id)
        self.peer.send(frame)

    def send_replayed(self, frames: bytes, message_ids: list[int]) -> None:
        """Send a page of replayed messages, encoded already."""
        for message_id in message_ids:
            self._note_sent(message_id)
        self.peer.send_encoded(frames)

    def send_history(self, page: HistoryPage) -> None:
        for message in page.messages:
            self._note_sent(message.id)
        self.peer.send(page)

    def _note_sent(self, message_id: int) -> None:
        if self._held is not None:
            self._replayed_ids.add(message_id)
        if message_id > self.delivered_id:
            self.delivered_id = message_id

    def displaced(self, *, same_session: bool) -> None:
        """Another sign-in of this user went online in this session's place (see the hub's
        ``Member``): its client is told ``bye`` and the link closes."""
        if same_session:
            self.handed_over = True  # the session row lives on, with the new link
            self.peer.link.close(ByeReason.REPLACED, end_reason="resumed_elsewhere")
        else:
            self.peer.link.close(ByeReason.REPLACED, end_reason="replaced", revoke=True)

    @contextlib.asynccontextmanager
    async def holding_live(self) -> AsyncIterator[None]:
        """Hold live deliveries back while stored messages are sent, then release them.

        Whatever was both replayed and delivered live in the meantime is sent
        once, so the client sees every message once and in order; and none up
        to the floor (:meth:`skip_live_through`) is sent at all.
        """
        if self._held is not None:  # already holding (nested): the outer one releases
            yield
            return
        self._held, self._held_bytes, self._replayed_ids = [], 0, set()
        self.deliver = self._deliver_held
        push = self.peer.outbox.push
        try:
            yield
        finally:
            held, self._held = self._held, None
            replayed, self._replayed_ids = self._replayed_ids, set()
            floor, self._floor = self._floor, 0
            self.deliver = push
            for data, message_id in held or ():
                if not (message_id and (message_id in replayed or message_id <= floor)):
                    push(data)
            if floor:
                # With several processes, this one's chain may still be behind the process the
                # client came from, and would hand it those messages again: they are passed over
                # until the first one above the floor (ids come in order), then nothing is checked.
                self._floor = floor
                self.deliver = self._deliver_above_floor

    def skip_live_through(self, message_id: int) -> None:
        """While live deliveries are held: the client has every message up to ``message_id``
        already (it signed in with it), so none of them is delivered live."""
        if self._held is not None:
            self._floor = message_id

    def _deliver_above_floor(self, data: bytes, message_id: int, parts: Parts | None, /) -> None:
        """``deliver`` until live delivery passes the floor the client signed in with."""
        push = self.peer.outbox.push
        floor = self._floor
        if parts is not None and any(0 < part_id <= floor for _, part_id in parts):
            for part, part_id in parts:
                self._deliver_above_floor(part, part_id, None)
            return
        if 0 < message_id <= floor:
            return
        if message_id:
            self.deliver = push  # past the floor: every later message is above it
        push(data)

    def _deliver_held(self, data: bytes, message_id: int, parts: Parts | None, /) -> None:
        """``deliver`` while a replay is being sent: keep live deliveries for afterwards."""
        if self._held is None:  # cut off while holding
            return
        if parts is None:
            self._held.append((data, message_id))
        else:
            self._held.extend(parts)  # one by one: some of them may be in the replay
        self._held_bytes += len(data)
        if self._held_bytes > self._limit:
            self._held = None
            self.peer.overflowed()
