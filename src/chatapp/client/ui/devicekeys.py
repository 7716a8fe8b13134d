"""Unlocking this device's end-to-end keys after signing in, and what to do when the password does not.

The device's pickle key is wrapped under the account's password
(:mod:`chatapp.client.e2e.protect`). When the password that signed in does
not unwrap it, the password was changed elsewhere or reset by an admin; the
device file is never silently replaced:

- the full-screen client asks: the previous password (then the key is
  wrapped under the new one), a new device (said plainly: the encrypted
  history kept on this device can no longer be read here), or going on
  without encryption this time;
- line mode says so and goes on without encryption for the run, unless
  ``--new-device`` was given.

argon2 and SQLite block, so the unlocking runs in a thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from ..e2e.agent import E2eSession
from ..e2e.protect import WrongPassword
from ..e2e.store import StoreLocked
from ..e2e.vault import Vault
from .signin import _Dialogue, say

WRONG_PASSWORD = (
    "this device's keys do not open with this password (it was changed elsewhere, or reset by an admin)"
)


async def unlock(
    session: E2eSession, directory: Path, password: str, *, new_device: bool, interactive: bool
) -> str | None:
    """Unlock (or make) the device in ``directory`` and start encrypting; None, or why encryption is off."""
    username = session.username or ""
    try:
        vault = await asyncio.to_thread(Vault.unlock, directory, username, password, new_device=new_device)
    except StoreLocked:
        return f"another chatapp-client is using this device ({directory}), so this one runs without it"
    except WrongPassword:
        if not interactive:
            return (f"{WRONG_PASSWORD}; --new-device starts a new device (the encrypted messages kept on "
                    f"this one can then no longer be read here)")
        found = await _ask(directory, username, password)
        if found is None:
            return f"{WRONG_PASSWORD}, and you chose to go on without encryption this time"
        vault = found
    except (OSError, sqlite3.Error, ValueError) as exc:
        return f"the device file in {directory} cannot be used ({exc})"
    await session.start_e2e(vault)
    return None


async def _ask(directory: Path, username: str, password: str) -> Vault | None:
    dialogue = _Dialogue()
    say(f"The keys of this device ({directory}) do not open with your password: it was changed "
        "somewhere else, or reset by an admin.")
    while True:
        say("1) Type the previous password (the keys are then kept under the new one)")
        say("2) Start a new device: the encrypted messages kept on this device can then NOT be read here")
        say("3) Go on without end-to-end encryption this time")
        answer = (await dialogue.ask("Choice: ")).strip()
        if answer == "3":
            return None
        if answer == "2":
            if await dialogue.confirm("Start a new device and lose this one's encrypted history?"):
                return await asyncio.to_thread(Vault.unlock, directory, username, password, new_device=True)
            continue
        if answer != "1":
            say("Please type 1, 2 or 3.")
            continue
        previous = await dialogue.ask("Previous password: ", secret=True)
        try:
            return await asyncio.to_thread(
                Vault.unlock, directory, username, password, previous_password=previous
            )
        except WrongPassword:
            say("That password does not open them either.")
