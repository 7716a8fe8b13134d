"""The dispatch table against the protocol's state table: every client frame has one handler,
and those of a signed-in user get the session."""

from __future__ import annotations

import typing

from chatapp.protocol import ClientFrame
from chatapp.protocol.states import SIGNED_IN
from chatapp.server.dispatch import HANDLERS


def test_every_client_frame_has_a_handler() -> None:
    assert set(HANDLERS) == set(typing.get_args(ClientFrame))


def test_the_frames_of_a_signed_in_user_and_only_those_are_handled_with_the_session() -> None:
    with_session = {kind for kind, handler in HANDLERS.items() if hasattr(handler, "__wrapped__")}
    assert with_session == SIGNED_IN
