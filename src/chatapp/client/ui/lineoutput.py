"""What line mode prints of the session's events: plain, sanitised lines, or one JSON object a line.

:class:`LineOutput` takes each event of the session (:mod:`.linemode` hands
them over) and writes it to standard output: as the chat screen words it, one
plain line per line of text (``HH:MM <alice> hi``, ``HH:MM * alice waves``,
``HH:MM -!- bob is online``), or, with ``--json``, as one JSON object per
event with no decoration (docs/client.md, "Line mode for bots"): the
protocol's own frames for what the server sent (``message`` and ``direct``
with their ids and timestamps, ``presence``, ``error``, the answers to
commands), an encrypted direct message with its decrypted ``text`` instead of
its ciphertexts, and a few objects of the client's own (``send_failed``,
``notice``, ``status``). Replayed messages (missed while away) are left out
with ``--no-replay``, the user's own with ``--no-echo``.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, tzinfo
from typing import Any, TextIO

import msgspec

from chatapp.protocol import (
    ByeReason,
    Direct,
    Error,
    HistoryPage,
    Joined,
    Left,
    Message,
    Presence,
    SessionList,
    Synced,
    UserInfo,
)
from chatapp.protocol.moderation_frames import (
    AddressBanList,
    AdminDone,
    AuditPage,
    MessageRemoved,
    RoomDeleted,
    RoomEvent,
    SanctionList,
    UserList,
)

from ..net.events import (
    E2eNote,
    LinkDown,
    LinkUp,
    ReconnectFailed,
    Reconnecting,
    SendFailed,
    SessionEnded,
    SessionEvent,
    TransferNote,
    TransferProgress,
    Unreadable,
)
from . import modsentences, sentences
from .lines import Line, message_lines, parse_timestamp, system_lines
from .sanitize import sanitize

_JSON = msgspec.json.Encoder()


@dataclasses.dataclass(frozen=True, slots=True)
class OutputOptions:
    json: bool = False
    """One JSON object per event instead of lines for people."""
    echo: bool = True
    """Print one's own messages (the server's copies of what this client sent)."""
    replay: bool = True
    """Print the messages missed since the last session (the server's replay at sign-in)."""


class LineOutput:
    """Writes events to ``stdout``, as lines or as JSON (see the module docstring)."""

    def __init__(self, stdout: TextIO, options: OutputOptions, *, tz: tzinfo | None = None) -> None:
        self.stdout = stdout
        self.options = options
        self.tz = tz
        self.unreadable: dict[int, str] = {}
        """Encrypted messages this device cannot read, by id: the notice shown instead."""

    def show(self, event: SessionEvent, me: str, room: str, now: datetime) -> None:
        """Print ``event``; ``me`` is the signed-in user, ``room`` the one plain lines go to."""
        if isinstance(event, Unreadable):
            self.unreadable.update(event.notices)
            return
        if isinstance(event, Message | Direct):
            notice = self.unreadable.pop(event.id, None)
            if event.replayed and not self.options.replay:
                return
            if not self.options.echo and event.sender.casefold() == me.casefold():
                return
            self._message(event, me, room, now, notice)
            return
        if isinstance(event, HistoryPage) or (isinstance(event, Synced) and not self.options.replay):
            return  # a room's context on joining is for a screen's scroll-back, not a script
        if self.options.json:
            self._write(_as_json(event))
        else:
            text = _sentence(event, me, self.tz, now)
            if text is not None:
                self._print(system_lines(text, now, tz=self.tz))

    def _message(
        self, event: Message | Direct, me: str, room: str, now: datetime, notice: str | None
    ) -> None:
        if self.options.json:
            fields = msgspec.to_builtins(event)
            fields.pop("ref", None)
            if isinstance(event, Direct) and event.e2e is not None:
                del fields["e2e"]
                fields["encrypted"] = True
                if notice is not None:
                    fields["notice"] = notice
            self._write(fields)
            return
        when = parse_timestamp(event.ts) or now
        elsewhere = isinstance(event, Direct) or event.room != room
        self._print(message_lines(event, me, tz=self.tz, received=when, show_room=elsewhere, notice=notice))

    def _print(self, lines: list[Line]) -> None:
        for line in lines:
            self.stdout.write(line.plain + "\n")
        self.stdout.flush()

    def _write(self, fields: dict[str, Any] | None) -> None:
        if fields is None:
            return
        self.stdout.write(_JSON.encode(fields).decode() + "\n")
        self.stdout.flush()


def _as_json(event: SessionEvent) -> dict[str, Any] | None:
    """An event as the object ``--json`` prints, or None for one a script has no use for."""
    if isinstance(event, SendFailed):
        outgoing = event.outgoing
        where = {"room": outgoing.room} if outgoing.to is None else {"to": outgoing.to}
        return {"type": "send_failed", **where, "text": outgoing.text, "code": event.error.code,
                "message": event.error.message}
    if isinstance(event, E2eNote):
        return {"type": "notice", "text": event.text, "level": event.level}
    if isinstance(event, TransferNote):
        return {"type": "transfer", "text": event.text, "level": event.level, "failed": event.failed}
    if isinstance(event, TransferProgress):
        return None  # on standard error, for people (line mode's _progress)
    if isinstance(event, LinkDown):
        return {"type": "status", "event": "link_down", "reconnect": event.reconnect,
                "text": sentences.describe_link_down(event.bye, event.error, event.bye_message)}
    if isinstance(event, LinkUp):
        return {"type": "status", "event": "link_up", "text": "Reconnected; session resumed."}
    if isinstance(event, ReconnectFailed):
        return {"type": "status", "event": "reconnect_failed", "attempt": event.attempt, "text": event.reason}
    if isinstance(event, Reconnecting):
        return None
    if isinstance(event, SessionEnded):
        return {"type": "status", "event": "ended", "bye": event.bye,
                "error": event.error.code if event.error is not None else None}
    fields: dict[str, Any] = msgspec.to_builtins(event)
    fields.pop("ref", None)
    return fields


def _sentence(event: SessionEvent, me: str, tz: tzinfo | None, now: datetime) -> str | None:
    """An event as the chat screen words it, or None for one line mode does not show."""
    if isinstance(event, E2eNote | TransferNote):
        return event.text
    if isinstance(event, TransferProgress):
        return None
    if isinstance(event, Presence):
        return sentences.presence_text(event)[0]
    if isinstance(event, Error):
        return sentences.describe_error(event.code, event.message, event.retry_after, until=event.until,
                                        tz=tz, now=now)
    if isinstance(event, LinkDown):
        why = sentences.describe_link_down(event.bye, event.error, event.bye_message)
        return why + (" Reconnecting." if event.reconnect else "")
    if isinstance(event, SendFailed):
        return f"Not sent: {sentences.send_refusal(event)}"
    if isinstance(event, ReconnectFailed):
        return f"Reconnect attempt {event.attempt} failed: {sanitize(event.reason)}."
    if isinstance(event, LinkUp):
        return "Reconnected; session resumed."
    if isinstance(event, SessionEnded):
        return sentences.why_ended(event) if event.bye != ByeReason.QUIT else None
    if isinstance(event, Joined):
        return f"You joined #{sanitize(event.room)}."
    if isinstance(event, Left):
        return f"You left #{sanitize(event.room)}."
    return _answer(event, me, tz, now)


def _answer(event: SessionEvent, me: str, tz: tzinfo | None, now: datetime) -> str | None:
    """Moderation events and the answers to requests, as the chat screen words them."""
    if isinstance(event, RoomEvent):
        return modsentences.room_event_text(event, me, tz=tz, now=now)
    if isinstance(event, RoomDeleted):
        return modsentences.room_deleted_text(event, me)
    if isinstance(event, MessageRemoved):
        where = f" in #{sanitize(event.room)}" if event.room else ""
        return f"Message {event.id}{where} was removed by {sanitize(event.by)}."
    if isinstance(event, SanctionList):
        return modsentences.sanction_list_text(event, tz=tz, now=now)
    if isinstance(event, AdminDone):
        return modsentences.admin_done_text(event, tz=tz, now=now)
    if isinstance(event, UserList):
        return modsentences.user_list_text(event, tz=tz, now=now)
    if isinstance(event, AddressBanList):
        return modsentences.address_ban_list_text(event, tz=tz, now=now)
    if isinstance(event, AuditPage):
        return modsentences.audit_page_text(event, tz=tz, now=now)
    if isinstance(event, SessionList):
        return sentences.session_list_text(event.sessions, tz=tz, now=now, user=event.user)
    if isinstance(event, UserInfo):
        return sentences.user_info_text(event, tz=tz, now=now, me=me)
    return None
