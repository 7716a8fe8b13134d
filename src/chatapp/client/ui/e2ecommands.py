"""The end-to-end encryption commands: ``/plain``, ``/verify``, ``/trust``, ``/devices``. Parsing and doing.

The work is the session's (:class:`~chatapp.client.e2e.agent.E2eSession`,
seen here only as :class:`E2eControl`): it fetches, compares and stores in a
task, and its answers come back as notes (``E2eNote`` events). Without
encryption (no device unlocked in this run) these say so, except ``/plain
TEXT``, which sends in clear either way.
"""

from __future__ import annotations

import re
from typing import Protocol

from chatapp.protocol import ProtocolError

from ..net.events import Outgoing
from . import actions
from .actions import Action
from .command_base import Command, bad, refusal, split, username
from .model import ChatModel
from .targets import Kind

DEVICE_ID = re.compile(r"[A-Z0-9]{6,32}")


class E2eControl(Protocol):
    """What the chat needs of the encrypting session."""

    plain: set[str]

    def status(self, peer: str) -> str: ...

    def verify(self, name: str, confirm: bool) -> None: ...

    def trust_devices(self, name: str) -> None: ...

    def list_devices(self) -> None: ...

    def remove_device(self, device: str) -> None: ...

    def rewrap(self, password: str) -> None: ...

    def send_plain(self, text: str, to: str) -> Outgoing: ...


def _parse_plain(command: Command, args: str) -> Action:
    if not args.strip():
        return bad(command, "/plain needs a message, or on or off")
    if args.strip().lower() in ("on", "off"):
        return actions.PlainMode(on=args.strip().lower() == "on")
    return actions.PlainText(args)


def _parse_verify(command: Command, args: str) -> Action:
    name, rest = split(args)
    if not name or rest.strip().lower() not in ("", "confirm"):
        return bad(command, "/verify needs a name, then confirm once the safety numbers match")
    try:
        return actions.Verify(username(name), confirm=bool(rest.strip()))
    except ProtocolError as exc:
        return bad(command, refusal(exc))


def _parse_trust(command: Command, args: str) -> Action:
    name, rest = split(args)
    if not name or rest.strip():
        return bad(command, "/trust needs one name")
    try:
        return actions.TrustDevices(username(name))
    except ProtocolError as exc:
        return bad(command, refusal(exc))


def _parse_devices(command: Command, args: str) -> Action:
    word, rest = split(args)
    if not word:
        return actions.ShowDevices()
    device = rest.strip().upper()
    if word.lower() != "remove" or not DEVICE_ID.fullmatch(device):
        return bad(command, "/devices alone lists your devices; /devices remove ID removes one")
    return actions.RemoveDevice(device)


E2E_COMMANDS: tuple[Command, ...] = (
    Command("plain", "in a conversation: send TEXT unencrypted; on/off: all of its messages", _parse_plain,
            usage="TEXT|on|off", choices=("on", "off")),
    Command("verify", "show the safety number to compare with NAME; confirm: mark NAME verified",
            _parse_verify, usage="NAME [confirm]", completes="user", choices=("confirm",)),
    Command("trust", "accept NAME's new devices without comparing safety numbers", _parse_trust,
            usage="NAME", completes="user"),
    Command("devices", "list your devices (keys, this one marked); remove ID: remove one", _parse_devices,
            usage="[remove ID]", completes="choice", choices=("remove",)),
)


def perform_e2e(chat: ChatModel, action: actions.E2eAction) -> bool:
    """Carry out an encryption command; True keeps the text in the input line."""
    if isinstance(action, actions.PlainText):
        return _send_plain(chat, action.text)
    control = chat.e2e
    if control is None:
        chat.note(f"End-to-end encryption is off in this run: {chat.e2e_off or 'no device is unlocked'}.",
                  level="error")
        return False
    if isinstance(action, actions.PlainMode):
        target = chat.active
        if target.kind is not Kind.DM:
            chat.note("/plain on and off are for a conversation: /msg NAME first.", level="error")
            return False
        if action.on:
            control.plain.add(target.name.lower())
            chat.note(f"Messages in {target.label} are sent in clear (the server can read them), marked "
                      f"[plain]. /plain off encrypts them again.", level="error")
        else:
            control.plain.discard(target.name.lower())
            chat.note(f"Messages in {target.label} are encrypted again.", level="ok")
    elif isinstance(action, actions.Verify):
        control.verify(action.username, action.confirm)
    elif isinstance(action, actions.TrustDevices):
        control.trust_devices(action.username)
    elif isinstance(action, actions.ShowDevices):
        control.list_devices()
    else:
        control.remove_device(action.device)
    return False


def _send_plain(chat: ChatModel, text: str) -> bool:
    target = chat.active
    if target.kind is not Kind.DM:
        chat.note("/plain sends a direct message in clear: use it in a conversation (/msg NAME first). "
                  "The text is kept.", level="error")
        return True
    e2e = chat.e2e
    if e2e is not None:
        return chat.try_send(lambda: e2e.send_plain(text, target.name))
    return chat.try_send(lambda: chat.outlet.send_direct(text, target.name))
