"""What ``/verify``, ``/trust`` and ``/devices`` do, on an :class:`~.agent.E2eSession`; answers are notes.

``/verify NAME`` fetches both users' device lists, shows the safety number
(:func:`~.safety.safety_number`) and every device's key, and remembers what
it showed; ``/verify NAME confirm`` then stores exactly those devices as
verified, so what is marked verified is what the two people compared.
``/trust NAME`` accepts NAME's current devices without comparing (a verified
user stays verified). ``/devices`` lists one's own devices, this one marked;
``/devices remove ID`` removes one (``delete_device``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chatapp.protocol import DeleteDevice, DeviceInfo
from chatapp.protocol.e2e_frames import DeviceDeleted

from ..net.errors import SendRefused
from ..net.events import E2eNote
from ..ui.sanitize import sanitize
from .safety import key_fingerprint, safety_number

if TYPE_CHECKING:
    from .agent import E2eSession


def _device_lines(devices: list[DeviceInfo], this: str | None = None) -> str:
    lines = []
    for info in devices:
        here = "  (this device)" if info.device == this else ""
        name = f" \u201c{sanitize(info.name)}\u201d" if info.name else ""
        added = sanitize(info.added[:16].replace("T", " "))
        lines.append(f"  {info.device}{name}  added {added}  key {key_fingerprint(info.keys.ed25519)}{here}")
    return "\n".join(lines)


async def _fetch(session: E2eSession, *names: str) -> list[list[DeviceInfo]] | None:
    from .agent import RequestRefused

    try:
        return [await session.devices.of(name, fresh=True) for name in names]
    except RequestRefused as exc:
        if exc.error.code == "no_such_user":
            session.emit(E2eNote(f"There is no user named {sanitize(names[-1])}.", level="error"))
        else:
            session.emit(E2eNote(f"The server refused to list devices ({exc.error.code}).", level="error"))
    except (SendRefused, TimeoutError) as exc:
        why = exc or "no answer"
        session.emit(E2eNote(f"Could not fetch the devices ({why}); try again.", level="error"))
    return None


async def verify(session: E2eSession, name: str, confirm: bool) -> None:
    me = session.username or ""
    shown = name.lower()
    if confirm:
        devices = session.shown_safety.get(shown)
        if devices is None:
            session.emit(E2eNote(f"First /verify {sanitize(name)} to see the safety number, compare it, "
                                 f"then /verify {sanitize(name)} confirm.", level="error"))
            return
        keys = {d.device: d.keys.ed25519 for d in devices}
        await session.in_vault(lambda v: v.store.set_trusted(name, keys, verified=True))
        session.verified.add(shown)
        session.emit(E2eNote(f"{sanitize(name)} is verified: messages go to these {len(keys)} device(s); "
                             f"a new or changed one is announced before anything is sent to it.",
                             peer=name, level="ok"))
        return
    fetched = await _fetch(session, me, name)
    if fetched is None:
        return
    mine, theirs = fetched
    if not theirs:
        session.emit(E2eNote(f"{sanitize(name)} has no device with keys: there is nothing to verify yet.",
                             peer=name, level="error"))
        return
    session.shown_safety[shown] = theirs
    number = safety_number(me, [d.keys.ed25519 for d in mine], name, [d.keys.ed25519 for d in theirs])
    half = len(number) // 2
    session.emit(E2eNote(
        f"Safety number with {sanitize(name)}:\n  {number[:half].strip()}\n  {number[half:].strip()}\n"
        f"Compare it with {sanitize(name)} in person or on a call (not in this chat): it is the same on both "
        f"sides only if nobody swapped keys. If it matches, type /verify {sanitize(name)} confirm.\n"
        f"{sanitize(name)}'s devices:\n{_device_lines(theirs)}\nYours:\n"
        f"{_device_lines(mine, session.vault.device.device_id if session.vault else None)}", peer=name))


async def trust(session: E2eSession, name: str) -> None:
    fetched = await _fetch(session, name)
    if fetched is None:
        return
    (theirs,) = fetched
    verified = name.lower() in session.verified
    keys = {d.device: d.keys.ed25519 for d in theirs}
    await session.in_vault(lambda v: v.store.set_trusted(name, keys, verified=verified))
    still = " (still verified)" if verified else ""
    text = f"Messages to {sanitize(name)} now go to their {len(keys)} current device(s){still}."
    session.emit(E2eNote(text, peer=name, level="ok"))


async def list_devices(session: E2eSession) -> None:
    fetched = await _fetch(session, session.username or "")
    if fetched is None:
        return
    (mine,) = fetched
    this = session.vault.device.device_id if session.vault else None
    session.emit(E2eNote(f"Your devices ({len(mine)}; /devices remove ID removes one):\n"
                         f"{_device_lines(mine, this)}"))


async def remove_device(session: E2eSession, device: str) -> None:
    from .agent import RequestRefused

    if session.vault is not None and device == session.vault.device.device_id:
        session.emit(E2eNote("That is this device; remove it from another one.", level="error"))
        return
    try:
        answer = await session.ask(lambda ref: DeleteDevice(device=device, ref=ref))
    except RequestRefused as exc:
        why = "you have no such device" if exc.error.code == "no_such_device" else exc.error.code
        session.emit(E2eNote(f"Device {sanitize(device)} was not removed: {why}.", level="error"))
        return
    except (SendRefused, TimeoutError) as exc:
        session.emit(E2eNote(f"Could not remove the device ({exc or 'no answer'}).", level="error"))
        return
    assert isinstance(answer, DeviceDeleted)
    session.devices.forget()
    session.emit(E2eNote(f"Device {sanitize(answer.device)} is removed: nobody encrypts to it any more.",
                         level="ok"))
