"""The commands of moderation, profiles and administration: their parse functions and table entries. Pure.

Room commands act on the active room, or on ``#ROOM`` typed first (as
``/topic`` does): ``/kick bob spam``, ``/ban #dev bob 2h flooding``. A word
after the name that starts with a digit is a duration (:mod:`.durations`);
what follows is the reason. Everything is checked against the protocol's
limits here, so a bad line is answered with a sentence and nothing is sent.
"""

from __future__ import annotations

import ipaddress
import re
from typing import cast

from chatapp.protocol import ProtocolError
from chatapp.protocol.limits import (
    ADDRESS_MAX,
    BIO_MAX,
    DISPLAY_NAME_MAX,
    REASON_MAX,
    SEARCH_MAX,
)
from chatapp.protocol.moderation_frames import RoomAction, ServerAction, ServerRole

from . import actions
from .actions import Action, BadUsage
from .command_base import Command, Parser, bad, no_args, room_name, split, username
from .durations import DurationError, looks_like_duration, parse_duration

ROLES: tuple[ServerRole, ...] = ("admin", "moderator", "user")


def _room_first(command: Command, args: str) -> tuple[str | None, str] | BadUsage:
    """``#room`` typed first (and the rest), or None and everything."""
    first, rest = split(args)
    if not first.startswith("#"):
        return None, args
    try:
        return room_name(first), rest
    except ProtocolError as exc:
        return bad(command, f"{first!r} is not a room name: {exc.message}")


def _user(command: Command, word: str) -> str | BadUsage:
    if not word:
        return bad(command, f"/{command.name} needs the name of the person")
    try:
        return username(word)
    except ProtocolError as exc:
        return bad(command, f"{word!r} is not a username: {exc.message}")


def _text(command: Command, text: str, what: str, limit: int) -> str | BadUsage:
    """One line of free text (a reason, a display name, a bio), at most ``limit`` characters."""
    text = " ".join(text.split())
    if "\x00" in text:  # no database can store it (the protocol's rule for every stored text)
        return bad(command, f"{what} must not contain the NUL character")
    if len(text) > limit:
        return bad(command, f"{what} is at most {limit} characters; this one has {len(text)}")
    return text


def _duration_and_reason(command: Command, rest: str, *, timed: bool) -> (
    tuple[int | None, str | None] | BadUsage
):
    duration: int | None = None
    first, after = split(rest)
    if timed and looks_like_duration(first):
        try:
            duration = parse_duration(first)
        except DurationError as exc:
            return bad(command, str(exc))
        rest = after
    reason = _text(command, rest, "A reason", REASON_MAX)
    if isinstance(reason, BadUsage):
        return reason
    return duration, reason or None


def _room_action(action: RoomAction, *, reason: bool = False, timed: bool = False) -> Parser:
    """``/ACTION [#ROOM] NAME`` (and, as the action takes them, ``[DURATION] [REASON]``)."""

    def parse(command: Command, args: str) -> Action:
        found = _room_first(command, args)
        if isinstance(found, BadUsage):
            return found
        room, rest = found
        word, rest = split(rest)
        user = _user(command, word)
        if isinstance(user, BadUsage):
            return user
        if not reason and rest.strip():
            return bad(command, f"/{command.name} takes only a name")
        tail = _duration_and_reason(command, rest, timed=timed)
        if isinstance(tail, BadUsage):
            return tail
        duration, why = tail
        return actions.ModerateUser(action, user, room, reason=why, duration=duration)

    return parse


def _parse_private(command: Command, args: str) -> Action:
    found = _room_first(command, args)
    if isinstance(found, BadUsage):
        return found
    room, rest = found
    word = rest.strip().lower()
    if word not in ("on", "off"):
        return bad(command, "/private needs on (invited users only) or off (anyone may join)")
    return actions.SetPrivate(room, word == "on")


def _parse_deleteroom(command: Command, args: str) -> Action:
    found = _room_first(command, args)
    if isinstance(found, BadUsage):
        return found
    room, rest = found
    why = _text(command, rest, "A reason", REASON_MAX)
    if isinstance(why, BadUsage):
        return why
    return actions.RemoveRoom(room, why or None)


def _parse_delete(command: Command, args: str) -> Action:
    words = args.split()
    if not words:
        return actions.RemoveMessage()
    if len(words) == 1 and re.fullmatch(r"[0-9]{1,18}", words[0]) and int(words[0]) >= 1:
        return actions.RemoveMessage(int(words[0]))
    if len(words) == 1 and not words[0][0].isdigit():
        user = _user(command, words[0])
        return user if isinstance(user, BadUsage) else actions.RemoveMessage(user=user)
    return bad(command, "/delete takes a message's number, or a name (their last message here), "
                        "or nothing (your last one here)")


def _parse_sanctions(command: Command, args: str) -> Action:
    words = args.split()
    if len(words) > 1:
        return bad(command, "/sanctions takes one room name")
    if not words:
        return actions.ShowSanctions()
    try:
        return actions.ShowSanctions(room_name(words[0]))
    except ProtocolError as exc:
        return bad(command, f"{words[0]!r} is not a room name: {exc.message}")


def _parse_profile(command: Command, args: str) -> Action:
    field, rest = split(args)
    if not field:
        return actions.ShowProfile()
    field = field.lower()
    if field not in ("name", "bio"):
        return bad(command, "/profile takes name TEXT or bio TEXT (--clear clears it), or nothing")
    if not rest.strip():
        return bad(command, f"/profile {field} needs the text (or --clear)")
    clear = rest.strip() == "--clear"
    if field == "name":
        text = "" if clear else _text(command, rest, "A display name", DISPLAY_NAME_MAX)
        return text if isinstance(text, BadUsage) else actions.EditProfile(display_name=text)
    text = "" if clear else _text(command, rest, "A bio", BIO_MAX)
    return text if isinstance(text, BadUsage) else actions.EditProfile(bio=text)


def _server_action(action: ServerAction, *, timed: bool = False, reason: bool = False) -> Parser:
    """``/COMMAND NAME`` (and, as the action takes them, ``[DURATION] [REASON]``) for ``admin``."""

    def parse(command: Command, args: str) -> Action:
        word, rest = split(args)
        user = _user(command, word)
        if isinstance(user, BadUsage):
            return user
        if not reason and rest.strip():
            return bad(command, f"/{command.name} takes only a name")
        tail = _duration_and_reason(command, rest, timed=timed)
        if isinstance(tail, BadUsage):
            return tail
        duration, why = tail
        return actions.ServerAdmin(action, user=user, reason=why, duration=duration)

    return parse


def _parse_disconnect(command: Command, args: str) -> Action:
    words = args.split()
    if not 1 <= len(words) <= 2:
        return bad(command, "/disconnect needs a name, and optionally one session's number")
    user = _user(command, words[0])
    if isinstance(user, BadUsage):
        return user
    session: int | None = None
    if len(words) == 2:
        if not re.fullmatch(r"[0-9]{1,18}", words[1]):
            return bad(command, f"{words[1]!r} is not a session number (/sessions {user} lists them)")
        session = int(words[1])
    return actions.ServerAdmin("disconnect", user=user, session=session)


def _parse_users(command: Command, args: str) -> Action:
    words = args.split()
    if len(words) > 1:
        return bad(command, "/users takes one word to search for")
    if words and words[0].lower() == "more":
        return actions.ListAccounts(more=True)
    if words and len(words[0]) > SEARCH_MAX:
        return bad(command, f"a search is at most {SEARCH_MAX} characters")
    return actions.ListAccounts(words[0] if words else None)


def _address(command: Command, word: str) -> str | BadUsage:
    if not word:
        return bad(command, f"/{command.name} needs an IPv4 or IPv6 address or CIDR range")
    if len(word) > ADDRESS_MAX:
        return bad(command, f"an address is at most {ADDRESS_MAX} characters")
    try:
        ipaddress.ip_network(word, strict=False)
    except ValueError:
        return bad(command, f"{word!r} is not an IPv4 or IPv6 address or CIDR range (such as 203.0.113.0/24)")
    return word


def _parse_banip(command: Command, args: str) -> Action:
    word, rest = split(args)
    address = _address(command, word)
    if isinstance(address, BadUsage):
        return address
    tail = _duration_and_reason(command, rest, timed=True)
    if isinstance(tail, BadUsage):
        return tail
    duration, why = tail
    return actions.ServerAdmin("ban_address", address=address, reason=why, duration=duration)


def _parse_unbanip(command: Command, args: str) -> Action:
    words = args.split()
    if len(words) > 1:
        return bad(command, "/unbanip takes one address or range")
    address = _address(command, words[0] if words else "")
    if isinstance(address, BadUsage):
        return address
    return actions.ServerAdmin("unban_address", address=address)


def _parse_audit(command: Command, args: str) -> Action:
    words = args.lower().split()
    if words not in ([], ["more"]):
        return bad(command, "/audit shows the newest events; /audit more the ones before them")
    return actions.ShowAudit(more=bool(words))


def _parse_promote(command: Command, args: str) -> Action:
    words = args.split()
    if len(words) != 2 or words[1].lower() not in ROLES:
        return bad(command, "/promote needs a name and a role: admin, moderator or user")
    user = _user(command, words[0])
    if isinstance(user, BadUsage):
        return user
    return actions.ServerAdmin("promote", user=user, role=cast(ServerRole, words[1].lower()))


ROOM = "[#ROOM] NAME"

MODERATION_COMMANDS: tuple[Command, ...] = (
    Command("kick", "put NAME out of the room (they may come back)", _room_action("kick", reason=True),
            usage=f"{ROOM} [REASON]", completes="member"),
    Command("ban", "keep NAME out of the room, for DURATION (30s, 10m, 2h, 7d) or until lifted",
            _room_action("ban", reason=True, timed=True), usage=f"{ROOM} [DURATION] [REASON]",
            completes="member"),
    Command("unban", "lift NAME's ban from the room", _room_action("unban"), usage=ROOM, completes="user"),
    Command("mute", "let NAME read but not talk in the room, for DURATION or until lifted",
            _room_action("mute", reason=True, timed=True), usage=f"{ROOM} [DURATION] [REASON]",
            completes="member"),
    Command("unmute", "let NAME talk in the room again", _room_action("unmute"), usage=ROOM,
            completes="member"),
    Command("op", "make NAME an operator of the room (owners)", _room_action("op"), usage=ROOM,
            completes="member"),
    Command("deop", "take operator status from NAME (owners)", _room_action("deop"), usage=ROOM,
            completes="member"),
    Command("transfer", "hand the room over to NAME: they own it then (owners)", _room_action("transfer"),
            usage=ROOM, completes="member"),
    Command("invite", "let NAME join the room while it is private", _room_action("invite"), usage=ROOM,
            completes="user"),
    Command("uninvite", "withdraw NAME's invitation", _room_action("uninvite"), usage=ROOM, completes="user"),
    Command("private", "on: only invited users may join and see the room; off: anyone (owners)",
            _parse_private, usage="[#ROOM] on|off", completes="choice", choices=("on", "off")),
    Command("deleteroom", "delete the room and its history (asks you to type its name)", _parse_deleteroom,
            usage="[#ROOM] [REASON]"),
    Command("delete", "remove message ID, or NAME's last message here; alone: your last one here",
            _parse_delete, usage="[ID|NAME]", completes="member"),
    Command("sanctions", "the bans and mutes in force in this room or ROOM", _parse_sanctions,
            usage="[ROOM]", completes="room"),
    Command("profile", "show yours; name TEXT / bio TEXT set them, --clear clears one", _parse_profile,
            usage="[name|bio TEXT]", completes="choice", choices=("name", "bio")),
    Command("passwd", "change your password (asked for hidden; your other sessions end)",
            no_args(actions.ChangeOwnPassword())),
    Command("suspend", "staff: lock NAME's account out, for DURATION or until lifted",
            _server_action("suspend", timed=True, reason=True), usage="NAME [DURATION] [REASON]",
            completes="user"),
    Command("unsuspend", "staff: let NAME sign in again", _server_action("unsuspend"), usage="NAME",
            completes="user"),
    Command("smute", "staff: mute NAME everywhere, for DURATION or until lifted",
            _server_action("mute", timed=True, reason=True), usage="NAME [DURATION] [REASON]",
            completes="user"),
    Command("sunmute", "staff: lift NAME's server-wide mute", _server_action("unmute"), usage="NAME",
            completes="user"),
    Command("disconnect", "staff: close NAME's connections, or one session (from /sessions NAME)",
            _parse_disconnect, usage="NAME [SESSION]", completes="user"),
    Command("users", "staff: list accounts, or those whose name holds QUERY; /users more: the next page",
            _parse_users, usage="[QUERY|more]"),
    Command("banip", "staff: refuse an address or CIDR range, for DURATION or until lifted", _parse_banip,
            usage="ADDRESS [DURATION] [REASON]"),
    Command("unbanip", "staff: lift an address ban", _parse_unbanip, usage="ADDRESS"),
    Command("ipbans", "staff: the address bans in force", no_args(actions.ListAddressBans())),
    Command("audit", "admins: the newest moderation events; /audit more: older ones", _parse_audit,
            usage="[more]", completes="choice", choices=("more",)),
    Command("promote", "admins: give NAME a server role (user demotes)", _parse_promote,
            usage="NAME admin|moderator|user", completes="user", choices=ROLES),
    Command("resetpw", "admins: give NAME a new password, shown to you once",
            _server_action("reset_password"), usage="NAME", completes="user"),
    Command("reloadfilters", "admins: read the server's filter file again",
            no_args(actions.ServerAdmin("reload_filters"))),
)
