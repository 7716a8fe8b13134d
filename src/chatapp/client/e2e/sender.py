"""Sealing a direct message for every device that may read it, then handing it to the session's outbox.

One message at a time, in the order typed: fetch the recipient's devices and
one's own (when the cached lists are older than 30 s), stop if a verified
user has a new device, claim a one-time key for each device without a
session, seal (:meth:`~.vault.Vault.seal`, which stores the plaintext by
nonce), and queue the ``dm`` with its envelope. Until then the message is
shown as being sent (it is in :attr:`Sender.preparing`). When the recipient
has no device with keys nothing is sent: the note says how to send in clear.
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

import msgspec

from chatapp.protocol import ClaimKey, ErrorCode, ProtocolError
from chatapp.protocol.e2e_frames import ClaimedKey
from chatapp.protocol.limits import MAX_FRAME_BYTES
from chatapp.protocol.rules import check_caption, check_text, check_username

from ..net.errors import SendRefused
from ..net.events import E2eNote, Outgoing, SendFailed
from ..ui.sanitize import sanitize, split_text
from .envelope import Recipient

if TYPE_CHECKING:
    from .agent import E2eSession

ENVELOPE_HEADROOM = 2048
"""An envelope is at most the frame limit less this (docs/protocol.md): its ``direct`` fits a history page."""


def preview(text: str) -> str:
    first = split_text(text)[0]
    return repr(first if len(first) <= 40 else first[:39] + "\u2026")


class Sender:
    """See the module docstring."""

    def __init__(self, session: E2eSession) -> None:
        self._session = session
        self._preparing: list[Outgoing] = []
        self._lock = asyncio.Lock()

    @property
    def preparing(self) -> tuple[Outgoing, ...]:
        return tuple(self._preparing)

    def send(self, text: str, to: str, file: str | None = None, *, action: bool = False) -> Outgoing:
        """Check and take the message (the same refusals as a plain one); it is sealed in a task.

        ``file``: an uploaded file's id; the message is its caption, and the key of the file (when it
        was encrypted for this conversation: ``session.files.sealed``) goes into the payload.
        """
        core = self._session.core
        if core.over:
            raise SendRefused("the session is over")
        if core.username is None:
            raise SendRefused("not signed in")
        check_username(to)
        if file is None:
            check_text(text, core.max_text)
        else:
            check_caption(text, core.max_text)
        if len(self._preparing) + len(core.outbox) >= core.max_outbox:
            raise SendRefused(f"{core.max_outbox} messages are already waiting to be sent")
        outgoing = Outgoing(
            nonce=core.new_nonce(), ref=0, room=None, text=text, to=to, action=action, file=file
        )
        self._preparing.append(outgoing)
        self._session.spawn(self._seal(outgoing))
        return outgoing

    async def _seal(self, outgoing: Outgoing) -> None:
        try:
            async with self._lock:
                await self._seal_and_queue(outgoing)
        finally:
            if outgoing in self._preparing:
                self._preparing.remove(outgoing)
            self._session.keeper.outbox_changed.set()  # flush() waits on it

    def _note(self, outgoing: Outgoing, text: str, level: str = "error") -> None:
        note = f"Not sent ({preview(outgoing.text)}): {text}"
        self._session.emit(E2eNote(note, peer=outgoing.to, level=level, unsent=True))

    async def _seal_and_queue(self, outgoing: Outgoing) -> None:
        from .agent import RequestRefused

        session = self._session
        to = outgoing.to
        me = session.username
        vault = session.vault
        assert to is not None and me is not None
        if vault is None:
            return
        try:
            await session.wait_online(math.inf)  # typed offline: sealed after the resume, like a plain one
            theirs = await session.devices.of(to, fresh=True)
            mine = await session.devices.of(me, fresh=True)
        except RequestRefused as exc:
            self._preparing.remove(outgoing)
            session.emit(SendFailed(outgoing, exc.error))
            return
        except (SendRefused, TimeoutError) as exc:
            self._note(outgoing, f"could not fetch the devices to encrypt for ({exc or 'no answer'}).")
            return
        name = sanitize(to)
        if not theirs:
            self._note(outgoing, (
                f"{name} has no device with keys for encrypted messages, so nothing was sent. "
                f"/plain TEXT sends one message in clear; /plain on sends in clear in this conversation "
                f"(/plain off: encrypted again); without a terminal, /plain {name} TEXT."))
            return
        warning = await session.devices.check_trust(to, theirs)
        if warning is not None:
            session.emit(E2eNote(warning, peer=to, level="warning", unsent=True))
            return
        own = vault.device.device_id
        # One's own other devices get every message too: a device the server slipped into one's own
        # list would read them all, so a new one is announced like anyone else's.
        await session.devices.check_trust(me, mine)
        recipients: dict[str, Recipient] = {}
        for username, devices in ((to, theirs), (me, mine)):
            for info in devices:
                if info.device != own:
                    recipients.setdefault(info.device, Recipient(username, info.device, info.keys.curve25519))
        claimed: dict[str, str] = {}
        skipped: list[str] = []
        for recipient in list(recipients.values()):
            if vault.has_session(recipient.curve25519):
                continue
            try:
                answer = await session.ask(
                    lambda ref, r=recipient: ClaimKey(username=r.username, device=r.device, ref=ref))  # type: ignore[misc]
            except RequestRefused:
                skipped.append(recipient.device)
                del recipients[recipient.device]
                continue
            except (SendRefused, TimeoutError) as exc:
                self._note(outgoing, f"could not claim the keys to encrypt with ({exc or 'no answer'}).")
                return
            assert isinstance(answer, ClaimedKey)
            claimed[recipient.device] = answer.key.key
        if not any(r.username.lower() == to.lower() for r in recipients.values()):
            self._note(outgoing, f"none of {name}'s devices has keys left to start an encrypted session; "
                                 f"try again later, or /plain TEXT sends it in clear.")
            return
        if skipped:
            session.emit(E2eNote(f"Devices without keys left are skipped and will not read it: "
                                 f"{', '.join(skipped)}.", peer=to))
        targets = list(recipients.values())
        text, nonce, action = outgoing.text, outgoing.nonce, outgoing.action
        key = session.files.sealed.get(outgoing.file) if outgoing.file is not None else None
        envelope = await session.in_vault(
            lambda v: v.seal(text, to, targets, claimed, nonce, key, action=action)
        )
        max_frame = session.welcome.max_frame if session.welcome is not None else MAX_FRAME_BYTES
        limit = max_frame - ENVELOPE_HEADROOM
        try:
            if len(msgspec.json.encode(envelope)) > limit:
                raise ProtocolError(ErrorCode.FRAME_TOO_LARGE, "too large once encrypted")
            session.core.queue_message(
                outgoing.text, room=None, to=to, e2e=envelope, nonce=outgoing.nonce, action=action,
                file=outgoing.file,
            )
        except ProtocolError:
            count = len(targets)
            self._note(outgoing, (
                f"that message is too large once encrypted for {count} device{'s' if count != 1 else ''} "
                f"(the server takes encrypted messages of at most {limit} bytes); send a shorter one."))
            return
        except SendRefused as exc:
            self._note(outgoing, str(exc) + ".")
            return
        session.keeper.write_pending()
