"""Messages to rooms and to people: submit, commit, then publish — one path for both.

A ``send`` or ``dm`` becomes a :class:`MessageDraft` handed to the message log
(:mod:`.message_log`), which returns a future that resolves once the message
is committed (group commit: one writer, batches). The caller does not await
it: a done-callback publishes the message, and the peer's next frame is read at
once. Futures resolve in submit order, so fan-out follows message ids, which is
what lets a client remember one number (the highest id seen) and the server
replay exactly what it missed. A session with more than ``MAX_UNCOMMITTED``
messages awaiting their commit is not read from until they are in: a flood is
slowed at its source.

Durability before acknowledgment: nobody, the sender included, sees a message
before it is committed. A message sent again with the same nonce (a client
resending after a lost link) is stored once; the resend gets only the sender's
acknowledgment.
"""

from __future__ import annotations

import asyncio
import logging

import msgspec

from chatapp.clock import utc_now
from chatapp.protocol import ErrorCode, ProtocolError, encode
from chatapp.protocol.e2e_frames import Envelope
from chatapp.protocol.frame_base import Ref
from chatapp.protocol.rules import check_caption, check_nonce, check_text
from chatapp.server.config import Config
from chatapp.server.filters import Target
from chatapp.server.hub import Hub
from chatapp.server.services.devices import Devices
from chatapp.server.services.file_sharing import Claimed, FileSharing
from chatapp.server.services.frames import ENVELOPE_HEADROOM, message_frame
from chatapp.server.services.limits import Limits
from chatapp.server.services.message_chain import Entry, MessageChain
from chatapp.server.services.message_log import MessageLog
from chatapp.server.services.people import find_user
from chatapp.server.services.room_sanctions import RoomSanctions
from chatapp.server.services.screening import Screening
from chatapp.server.session import Session
from chatapp.server.store import MessageDraft, Store, StoredMessage
from chatapp.server.transport.delivery import Delivery

log = logging.getLogger("chatapp.messaging")

MAX_UNCOMMITTED = 256
"""Messages of one session waiting for their commit before it is read from no more."""

_NOT_STORED = "your message could not be stored and was not delivered; try again"


class Messaging:
    def __init__(
        self,
        config: Config,
        log: MessageLog,
        store: Store,
        hub: Hub,
        delivery: Delivery,
        limits: Limits,
        sanctions: RoomSanctions,
        screening: Screening,
        devices: Devices,
        files: FileSharing,
        chain: MessageChain | None = None,
    ) -> None:
        """``chain``: with several processes (``--redis-url``), committed messages are delivered
        through it, in the order of every process's commits, instead of straight to the hub."""
        self._chain = chain
        self._config = config
        self._files = files
        self._background: set[asyncio.Task[None]] = set()
        self._screening = screening
        self._log = log
        self._store = store
        self._hub = hub
        self._delivery = delivery
        self._limits = limits
        self._sanctions = sanctions
        self._devices = devices

    async def post_message(
        self,
        session: Session,
        text: str,
        nonce: str | None,
        ref: Ref,
        *,
        room: str | None = None,
        to: str | None = None,
        envelope: Envelope | None = None,
        action: bool = False,
        file: str | None = None,
    ) -> None:
        """Store a message to ``room`` or to the user named ``to``, then deliver it to whoever is
        online there and the sender's own copy (with its ``ref`` and ``nonce``) to the sender.

        With ``envelope`` (to a person only, ``text`` unused) the message is end-to-end encrypted:
        stored as the envelope's JSON, checked for its sending device, and neither screened nor
        counted as a repeated text (the server cannot read it); every other rule is a plain one's.
        ``action``: an action message (``/me``), in clear only (an encrypted one's flag is inside).
        With ``file`` (an id from ``upload_done``) the message shares that file, claimed for it here
        (``text`` is its caption and may be empty); see :meth:`FileSharing.claim`.
        """
        assert (room is None) != (to is None), "a message goes to a room or to a person"
        self._limits.check_send(session)
        if envelope is not None:
            assert to is not None, "only a direct message is encrypted"
            await self._post_encrypted(session, envelope, nonce, ref, to, file)
            return
        room_id = None
        if room is not None:
            room_id = await self._sanctions.room_to_post(room, session.room_ids, session.user_id)
        if file is None:
            check_text(text, self._config.max_text)
        else:
            check_caption(text, self._config.max_text)
        check_nonce(nonce)
        recipient = None
        if to is not None:
            recipient = await find_user(self._store, to)
        recipient_id = recipient.id if recipient is not None else None
        # A rejected text is stored nowhere, a masked one is stored masked.
        target = Target.MESSAGES if room is not None else Target.DIRECT_MESSAGES
        if text.strip():
            text = self._screening.check(session.username, target, text, room=room)
            self._limits.check_flood(session, text)  # last: a message refused otherwise does not count
        claimed = await self._claim(session, file, nonce, room_id, recipient_id)
        draft = MessageDraft(
            sender_id=session.user_id,
            text=text,
            created_at=utc_now(),
            room_id=room_id,
            recipient_id=recipient_id,
            nonce=nonce,
            sender_name=session.username,
            room_name=room,
            recipient_name=recipient.username if recipient is not None else None,
            action=action,
            file_id=claimed.file_id,
            file=claimed.file,
        )
        await self._submit(session, draft, ref)

    async def _claim(
        self,
        session: Session,
        file: str | None,
        nonce: str | None,
        room_id: int | None,
        recipient_id: int | None,
    ) -> Claimed:
        if file is None:
            return Claimed(None, None)
        return await self._files.claim(session, file, nonce, room_id=room_id, recipient_id=recipient_id)

    async def _post_encrypted(
        self, session: Session, envelope: Envelope, nonce: str | None, ref: Ref, to: str, file: str | None
    ) -> None:
        check_nonce(nonce)
        recipient = await find_user(self._store, to)
        await self._devices.check_sender(session, envelope)
        # Stored as the client's envelope re-encoded: the same fields, in one canonical form.
        stored = msgspec.json.encode(envelope).decode()
        if len(stored) > self._config.max_frame - ENVELOPE_HEADROOM:
            raise ProtocolError(
                ErrorCode.FRAME_TOO_LARGE,
                f"an encrypted message is at most {self._config.max_frame - ENVELOPE_HEADROOM} bytes of "
                "envelope, so that it fits in a page of history; send a shorter one",
            )
        # Its size and fan-out only: never a body (the database errors hide their parameters too).
        log.debug(
            "encrypted dm from=%s devices=%d bytes=%d",
            session.username,
            len(envelope.ciphertexts),
            len(stored),
        )
        draft = MessageDraft(
            sender_id=session.user_id,
            text=stored,
            created_at=utc_now(),
            recipient_id=recipient.id,
            nonce=nonce,
            sender_name=session.username,
            recipient_name=recipient.username,
            encrypted=True,
        )
        claimed = await self._claim(session, file, nonce, None, recipient.id)
        draft = msgspec.structs.replace(draft, file_id=claimed.file_id, file=claimed.file)
        await self._submit(session, draft, ref, envelope)

    async def _submit(
        self, session: Session, draft: MessageDraft, ref: Ref, envelope: Envelope | None = None
    ) -> None:
        recipient_id = draft.recipient_id
        future = self._log.submit(draft)
        session.uncommitted += 1
        session.last_commit = future

        def committed(done: asyncio.Future[StoredMessage]) -> None:
            # Done-callbacks run in the order the futures resolve, which is commit order.
            session.uncommitted -= 1
            if done.cancelled():
                return
            error = done.exception()
            if error is not None:
                log.error("a message could not be stored: %r", error)
                if draft.file_id is not None:  # the file may be posted again
                    self._background.add(task := asyncio.create_task(self._files.release(draft.file_id)))
                    task.add_done_callback(self._background.discard)
                session.peer.refuse(ProtocolError(ErrorCode.SERVER_ERROR, _NOT_STORED), ref)
                return
            self._publish(session, done.result(), ref, recipient_id, envelope)

        future.add_done_callback(committed)
        if session.uncommitted > MAX_UNCOMMITTED:
            await asyncio.wait([future])

    def _publish(
        self,
        session: Session,
        stored: StoredMessage,
        ref: Ref,
        recipient_id: int | None,
        envelope: Envelope | None,
    ) -> None:
        # An encrypted message's envelope is the one the frame decoder made, not decoded again
        # (but a resend's acknowledgment is the message stored the first time).
        frame = message_frame(stored, envelope=None if stored.duplicate else envelope)
        # The sender's copy is the same frame with its nonce and ref (made once, not per copy).
        own = msgspec.structs.replace(frame, nonce=stored.nonce, ref=ref)
        if stored.duplicate:
            session.send_message(own, stored.id)  # a resend: the sender's acknowledgment only
        elif self._chain is not None:
            users = None if recipient_id is None else (session.user_id, recipient_id)
            entry = Entry(stored.id, stored.room, users, encode(frame))
            self._chain.local(entry, (session.user_id, encode(own)))
        elif stored.room is not None:
            self._hub.publish(stored.room, frame, stored.id, own=(session.user_id, own))
        else:
            assert recipient_id is not None
            users = (session.user_id, recipient_id)
            self._hub.send_to_users(users, frame, stored.id, own=(session.user_id, own))

    async def settle(self, session: Session | None) -> None:
        """Wait (at most ``--close-grace``) until the session's messages are committed and their
        acknowledgments handed out: what a client that leaves is still owed before its ``bye``."""
        pending = session.last_commit if session is not None else None
        if session is not None and session.uncommitted and pending is not None:
            # Commits resolve in submit order: when the last is in, so are all of this session's.
            await asyncio.wait([pending], timeout=self._config.close_grace)
        # Acknowledgments published since are handed out now, so that they come before the bye.
        self._delivery.hand_out()
