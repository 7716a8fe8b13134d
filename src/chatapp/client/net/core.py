"""The protocol part of a chat session: what the client remembers and decides, with no socket.

:class:`SessionCore` takes the frames the server sent (:meth:`~SessionCore.receive`)
and the user's messages and requests, and gives back the frames to write
(:meth:`~SessionCore.frames_to_send`) and what happened
(:meth:`~SessionCore.events_received`). No socket, no asyncio, no clock of its
own (the time is passed in), so it is tested in memory like h11's and
websockets' protocol objects; :class:`~chatapp.client.net.session.ChatSession`
drives it over a TCP link and reconnects.

What it keeps:

- the *outbox*: every message handed over stays there until the server's copy
  comes back with the same ``nonce`` (the acknowledgment) or an ``error`` with
  its ``ref``; after signing in again, everything still in it is sent again,
  with the same nonce (at least once; the server drops a nonce it has);
- *pacing*: the outbox is the one outgoing queue, sent in order one message at
  a time (the next goes when the previous was acknowledged or refused), so that
  a ``rate_limited`` refusal can never let a later message overtake an earlier
  one: the refused message stays at the head, nothing is written until its
  ``retry_after`` has passed (:attr:`~SessionCore.hold_until`, which the link
  part waits out and then calls :meth:`~SessionCore.release`), and it is sent
  again with the same nonce. It is never dropped for the rate limit; other
  refusals (a mute, a room one is not in) drop it with a ``SendFailed``. The
  outbox is bounded (``max_outbox``): a producer that must not lose input
  waits for room (``ChatSession.wait_for_room``);
- the highest message id seen (``message`` and ``direct`` frames, ``synced``),
  sent as ``last_id`` when resuming so the server replays exactly what was
  missed, and the ids seen lately, so that a message seen twice is passed on
  once;
- which ``ref`` asked to sign in: its ``auth_ok`` or ``error`` is the answer
  (:class:`SignInAnswer`), not an event, and an ``auth_ok`` signs in at once,
  before any frame after it is looked at;
- the pings it sent, to measure the round trip when their ``pong`` comes.

Frames the session does not handle itself (``Message``, ``Presence``,
``Joined``, answers to :meth:`~SessionCore.request`, ...) are passed on as
events, in the order they came.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import logging
import random
from collections.abc import Callable

from chatapp.protocol import (
    MAX_TEXT_CHARS,
    AuthOk,
    ClientFrame,
    Direct,
    Envelope,
    Error,
    ErrorCode,
    Message,
    Ping,
    Pong,
    ProtocolError,
    Resume,
    ServerFrame,
    Synced,
    Welcome,
)
from chatapp.protocol.limits import MAX_FRAME_BYTES
from chatapp.protocol.rules import check_caption, check_text, check_username

from .errors import SendRefused
from .events import Outgoing, SendFailed, SessionEvent

log = logging.getLogger("chatapp.client.session")

OUTBOX_LIMIT = 1000
"""Messages the outbox holds at most by default: a 1,000-line paste fits; beyond, producers wait."""
RETRY_AFTER_DEFAULT = 1.0
"""Seconds to wait after a ``rate_limited`` refusal that does not say how long."""
SEEN_IDS = 2048
"""Message ids remembered to drop duplicates (a replay overlapping what was already shown)."""
PINGS_KEPT = 8
"""Unanswered pings remembered (an answer to an older one measures nothing)."""


@dataclasses.dataclass(frozen=True, slots=True)
class SignInAnswer:
    """The server's answer to a sign-in (:meth:`SessionCore.sign_in`): ``auth_ok`` or ``error``.

    For the link part, not for the user: it wakes whoever waits for the answer.
    When it is an ``auth_ok``, the core is already signed in.
    """

    ref: int
    frame: AuthOk | Error


class SessionCore:
    """One chat session's protocol state, the same across every connection of the session.

    ``frame_size`` measures a frame as it would be written (the codec's job),
    to refuse a message larger than the server's ``max_frame`` before it is queued.
    """

    def __init__(
        self,
        *,
        frame_size: Callable[[ClientFrame], int],
        rng: random.Random | None = None,
        max_outbox: int = OUTBOX_LIMIT,
    ) -> None:
        self._frame_size = frame_size
        self._rng = rng or random.Random()
        self._max_outbox = max_outbox

        self.welcome: Welcome | None = None
        """The latest connection's greeting (limits, server name)."""
        self.username: str | None = None
        self.token: str | None = None
        """What a ``resume`` needs; set by the first ``auth_ok``."""
        self.online = False
        """Signed in on the current connection: messages and requests go out at once."""
        self.over = False
        """The session ended: nothing more is accepted for sending."""
        self.latency: float | None = None
        """Round-trip time of the last answered ping, in seconds."""
        self.last_id: int | None = None
        """Highest message id seen; sent on resume so the server can replay what was missed."""
        self.hold_until: float | None = None
        """While set (a monotonic time): the server said ``rate_limited``; nothing is sent before it."""

        self._seen_ids: collections.deque[int] = collections.deque(maxlen=SEEN_IDS)
        self._refs = itertools.count(1)
        self._sign_ins: set[int] = set()
        self._pings: dict[int, float] = {}
        self._outbox: list[Outgoing] = []
        self._to_send: list[ClientFrame] = []
        self._events: list[SessionEvent | SignInAnswer] = []

    # -- what it says -------------------------------------------------------------------------------

    @property
    def outbox(self) -> tuple[Outgoing, ...]:
        """Messages not yet acknowledged by the server, oldest first."""
        return tuple(self._outbox)

    @property
    def max_outbox(self) -> int:
        return self._max_outbox

    @property
    def max_text(self) -> int:
        return self.welcome.max_text if self.welcome is not None else MAX_TEXT_CHARS

    def frames_to_send(self) -> list[ClientFrame]:
        """The frames to write now, in order (each is handed out once)."""
        frames, self._to_send = self._to_send, []
        return frames

    def events_received(self) -> list[SessionEvent | SignInAnswer]:
        """What happened since the last call, in order (each is handed out once)."""
        events, self._events = self._events, []
        return events

    # -- what the user asks -------------------------------------------------------------------------

    def next_ref(self) -> int:
        return next(self._refs)

    def sign_in(self, make: Callable[[int], ClientFrame]) -> ClientFrame:
        """The sign-in frame ``make(ref)`` (``login``, ``register``); its answer is a :class:`SignInAnswer`.

        Returned rather than queued: it goes on the connection that was just
        opened for it, and the caller needs to know whether it could be written.
        """
        ref = self.next_ref()
        self._sign_ins.add(ref)
        return make(ref)

    def resume(self) -> ClientFrame:
        """The ``resume`` that takes this session up again on a new connection, with ``last_id``."""
        token = self.token
        if token is None:
            raise SendRefused("never signed in: there is no session to resume")
        return self.sign_in(lambda ref: Resume(token=token, last_id=self.last_id, ref=ref))

    def send_text(self, text: str, room: str, file: str | None = None, *, action: bool = False) -> Outgoing:
        """Queue a message to ``room`` (sharing the uploaded ``file``; an action, ``/me``, with
        ``action``); see :meth:`queue_message`."""
        return self.queue_message(text, room=room, to=None, file=file, action=action)

    def send_direct(self, text: str, to: str, file: str | None = None, *, action: bool = False) -> Outgoing:
        """Queue a direct message to the user ``to``; see :meth:`queue_message`.

        Also raises :class:`~chatapp.protocol.ProtocolError` ``invalid_username``
        when ``to`` cannot be a username.
        """
        check_username(to)
        return self.queue_message(text, room=None, to=to, file=file, action=action)

    def queue_message(self, text: str, *, room: str | None, to: str | None, e2e: Envelope | None = None,
                      nonce: str | None = None, action: bool = False, file: str | None = None) -> Outgoing:
        """Put a message in the outbox; it goes out now if signed in, else after signing in again.

        Raises :class:`~chatapp.protocol.ProtocolError` (the shared rules: empty
        text, ``text_too_long`` against the server's ``max_text`` and
        ``max_frame``) or :class:`SendRefused` (over, not signed in, outbox full).
        With ``e2e`` the frame carries that envelope instead of ``text`` (the
        plaintext stays here), and ``nonce`` is the one it was sealed under.
        With ``file`` (an uploaded file's id) the text is its caption and may be empty.
        """
        if self.over:
            raise SendRefused("the session is over")
        if self.username is None:
            raise SendRefused("not signed in")
        if file is None:
            check_text(text, self.max_text)
        else:
            check_caption(text, self.max_text)
        max_frame = self.welcome.max_frame if self.welcome is not None else MAX_FRAME_BYTES
        nonce = nonce or self.new_nonce()
        outgoing = Outgoing(nonce=nonce, ref=self.next_ref(), room=room, text=text, to=to, e2e=e2e,
                            action=action, file=file)
        if self._frame_size(outgoing.frame()) > max_frame:
            raise ProtocolError(
                ErrorCode.TEXT_TOO_LONG, f"the message is larger than the server's limit of {max_frame} bytes"
            )
        if len(self._outbox) >= self._max_outbox:
            raise SendRefused(f"{len(self._outbox)} messages are already waiting to be sent")
        self._outbox.append(outgoing)
        self._pump()
        return outgoing

    def new_nonce(self) -> str:
        return f"{self._rng.getrandbits(64):016x}"

    def request(self, build: Callable[[int], ClientFrame]) -> int:
        """Queue the frame ``build(ref)`` (``join``, ``who``, ``history``, ...) and return its ``ref``.

        The answer, or an ``error`` with the same ``ref``, comes as an event.
        Raises :class:`SendRefused` while not signed in on a connection: requests
        are not kept for later, what they would answer may be stale by then.
        """
        if self.over:
            raise SendRefused("the session is over")
        if not self.online:
            raise SendRefused("not connected")
        ref = self.next_ref()
        self._to_send.append(build(ref))
        return ref

    def ping(self, now: float) -> int:
        """Queue a ``ping``; its ``pong`` measures :attr:`latency`. Returns its ref."""
        ref = self.next_ref()
        self._pings[ref] = now
        while len(self._pings) > PINGS_KEPT:
            del self._pings[next(iter(self._pings))]
        self._to_send.append(Ping(ref=ref))
        return ref

    # -- what the connection says ---------------------------------------------------------------------

    def receive(self, frame: ServerFrame, now: float) -> None:
        """Take one frame from the server (``now`` on a monotonic clock, for the round trip)."""
        if isinstance(frame, Welcome):
            self.welcome = frame
            self._events.append(frame)  # the link part waits for it
            return
        if isinstance(frame, Ping):
            self._to_send.append(Pong(ref=frame.ref))
            return
        if isinstance(frame, Pong):
            if isinstance(frame.ref, int) and frame.ref in self._pings:
                self.latency = max(0.0, now - self._pings.pop(frame.ref))
            return
        if isinstance(frame, AuthOk | Error) and isinstance(frame.ref, int) and frame.ref in self._sign_ins:
            self._sign_ins.discard(frame.ref)
            if isinstance(frame, AuthOk):
                self._signed_in(frame)
            self._events.append(SignInAnswer(frame.ref, frame))
            return
        if isinstance(frame, Error):
            self._refused(frame, now)
            return
        if isinstance(frame, Message | Direct):
            self._message(frame)
            return
        if isinstance(frame, Synced):
            # Everything up to here was sent. (History pages do not move last_id: a page may
            # hold a message whose live delivery, and that of older ones, is still on its way.)
            self._saw_id(frame.last_id)
        if isinstance(frame, AuthOk):
            log.info("ignored an auth_ok nobody asked for")
            return
        self._events.append(frame)

    def link_lost(self) -> None:
        """The connection is gone: nothing is written until signing in again; the outbox waits."""
        self.online = False
        self._sign_ins.clear()
        self._to_send.clear()
        for outgoing in self._outbox:
            outgoing.queued = True

    def release(self, now: float) -> None:
        """The link part's timer: once :attr:`hold_until` has passed, the held message goes again."""
        if self.hold_until is not None and now >= self.hold_until:
            self.hold_until = None
            self._pump()

    def close(self) -> None:
        """The session is over: refuse what is handed over from now on."""
        self.over = True
        self.online = False

    # -- inside ---------------------------------------------------------------------------------------------

    def _signed_in(self, auth: AuthOk) -> None:
        self.username = auth.username
        if auth.token:  # a resume answers with an empty token: the one we have stays valid
            self.token = auth.token
        self.online = True
        self._pump()

    def _pump(self) -> None:
        """Write the head of the outbox if nothing is on its way and no refusal is being waited out.

        One at a time: with two on their way, the first could be refused for the rate and the
        second, a moment later, taken, and the two would be stored in the wrong order.
        """
        if not self.online or self.hold_until is not None or not self._outbox:
            return
        head = self._outbox[0]
        if head.queued:
            self._write(head)

    def _write(self, outgoing: Outgoing) -> None:
        self._to_send.append(outgoing.frame())
        outgoing.queued = False

    def _refused(self, error: Error, now: float) -> None:
        for outgoing in self._outbox:
            if outgoing.ref == error.ref:
                if error.code == ErrorCode.RATE_LIMITED:
                    # Kept at the head and sent again, with its nonce, once the wait is over.
                    outgoing.queued = True
                    wait = error.retry_after if error.retry_after is not None else RETRY_AFTER_DEFAULT
                    self.hold_until = now + max(0.0, wait)
                    return
                self._outbox.remove(outgoing)
                self._events.append(SendFailed(outgoing, error))
                self._pump()
                return
        self._events.append(error)

    def _message(self, message: Message | Direct) -> None:
        if message.nonce is not None:
            for outgoing in self._outbox:
                if outgoing.nonce == message.nonce:
                    self._outbox.remove(outgoing)
                    self._pump()
                    break
        if message.id in self._seen_ids:
            log.debug("dropped message %d, already seen", message.id)
            return
        self._seen_ids.append(message.id)
        self._saw_id(message.id)
        self._events.append(message)

    def _saw_id(self, message_id: int) -> None:
        if self.last_id is None or message_id > self.last_id:
            self.last_id = message_id
