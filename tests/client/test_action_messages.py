"""``/me``: parsed, sent with the ``action`` flag (in clear on the frame, sealed inside an encrypted
message, real vodozemac devices and device files), and shown as ``* alice waves``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from chatapp.client.e2e.vault import Vault
from chatapp.client.ui import actions, commands
from chatapp.client.ui.lines import message_lines, pending_lines
from chatapp.protocol import Direct, Message, Send, SendDirect, encode
from tests.client.e2e.test_vault import PASSWORD, Wire, claim, info, recipient
from tests.client.test_core import signed_in


def test_me_is_an_action_and_needs_its_text() -> None:
    assert commands.parse("/me waves at  everyone") == actions.SendText("waves at  everyone", action=True)
    assert isinstance(commands.parse("/me  "), actions.BadUsage)
    assert commands.parse("waves") == actions.SendText("waves")


def test_an_action_is_shown_with_a_star_and_a_tombstone_as_removed() -> None:
    waves = Message(id=1, room="general", sender="alice", text="waves", ts="2026-12-05T09:15:00Z",
                    action=True)
    (line,) = message_lines(waves, "bob", tz=None)
    assert line.plain.endswith(" * alice waves") and "<alice>" not in line.plain
    removed = msgspec.structs.replace(waves, text="", removed_by="alice", action=False)
    assert "(message removed by alice)" in message_lines(removed, "bob")[0].plain
    # Control characters in an action are made inert as in any message.
    evil = msgspec.structs.replace(waves, text="\x1b[2Jgone")
    assert "\x1b" not in message_lines(evil, "bob")[0].plain
    plain = msgspec.structs.replace(waves, action=False)
    assert "<alice> waves" in message_lines(plain, "bob")[0].plain


def test_an_action_being_sent_is_shown_as_one() -> None:
    (line,) = pending_lines("waves", "alice", queued=False, action=True)
    assert line.plain == "--:-- * alice waves  (sending)"


def test_the_flag_is_on_the_frame_of_a_room_message_and_a_direct_one() -> None:
    core = signed_in()
    core.frames_to_send()
    queued = [
        core.send_text("waves", "general", action=True),
        core.send_direct("winks", "bob", action=True),
        core.send_text("hello", "general"),
    ]
    sent = [outgoing.frame() for outgoing in queued]  # as each is written, in turn
    assert core.frames_to_send() == sent[:1]
    assert [type(f) for f in sent] == [Send, SendDirect, Send]
    assert [getattr(f, "action", None) for f in sent] == [True, True, None]
    # Absent from a plain message's bytes: an old server sees exactly what it always saw.
    assert b"action" not in encode(sent[2])


@pytest.fixture
def vaults(tmp_path: Path) -> Iterator[tuple[Vault, Vault]]:
    alice = Vault.unlock(tmp_path / "alice", "alice", PASSWORD)
    bob = Vault.unlock(tmp_path / "bob", "bob", PASSWORD)
    yield alice, bob
    alice.close()
    bob.close()


def test_an_encrypted_action_carries_its_flag_inside(vaults: tuple[Vault, Vault]) -> None:
    alice, bob = vaults
    wire = Wire()
    claimed = {bob.device.device_id: claim(bob)}
    envelope = alice.seal("waves", "bob", [recipient(bob)], claimed, "n1", action=True)
    direct = wire.direct("alice", "bob", envelope, nonce="n1")
    assert not direct.action and b"action" not in encode(direct)  # nothing of it outside
    opened = bob.open(direct, [info(alice)])
    assert opened is not None and (opened.text, opened.action) == ("waves", True)
    # Kept with the plaintext in the device file: what history and a restart read.
    stored = bob.stored(direct.id)
    assert stored is not None and (stored.text, stored.action) == ("waves", True)
    # The sender's own copy, acknowledged by nonce, keeps the flag too.
    mine = alice.known(Direct(id=direct.id, sender="alice", to="bob", text="", ts=direct.ts, nonce="n1"))
    assert mine is not None and mine.action
    # A plain message's payload has no flag at all.
    plain = alice.seal("hello", "bob", [recipient(bob)], {}, "n2")
    opened = bob.open(wire.direct("alice", "bob", plain, nonce="n2"), [info(alice)])
    assert opened is not None and (opened.text, opened.action) == ("hello", False)
