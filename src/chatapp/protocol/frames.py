"""Every frame of wire protocol v1 as a typed, immutable record.

A frame is one JSON object on one line; its ``type`` field selects the class
(a msgspec tagged union). Unknown extra fields are ignored so that newer peers
can add optional fields without breaking older ones. ``ref`` is an opaque
correlation value a client may put on any frame; the server copies it onto the
reply or error that answers that frame.

Structural typing lives here (field present, right JSON type). Rules about
values (username characters, text length, ...) live in :mod:`.rules`, because
they answer with specific error codes rather than ``bad_frame``.
"""

from __future__ import annotations

from typing import Literal

import msgspec

Ref = str | int | None


class _Frame(msgspec.Struct, frozen=True, omit_defaults=True, tag_field="type"):
    """Base of every frame.

    Subclasses repeat ``frozen=True`` although msgspec inherits it, because type
    checkers follow PEP 681 (dataclass_transform), which does not (msgspec #657).
    """


# -- client to server ----------------------------------------------------------


class Register(_Frame, frozen=True, tag="register"):
    username: str
    password: str
    ref: Ref = None

    def __repr__(self) -> str:  # never show a password in a log or traceback
        return f"Register(username={self.username!r}, password=<hidden>, ref={self.ref!r})"


class Login(_Frame, frozen=True, tag="login"):
    username: str
    password: str
    ref: Ref = None

    def __repr__(self) -> str:
        return f"Login(username={self.username!r}, password=<hidden>, ref={self.ref!r})"


class Resume(_Frame, frozen=True, tag="resume"):
    token: str
    ref: Ref = None

    def __repr__(self) -> str:
        return f"Resume(token=<hidden>, ref={self.ref!r})"


class Send(_Frame, frozen=True, tag="send"):
    room: str
    text: str
    nonce: str | None = None
    ref: Ref = None


class Quit(_Frame, frozen=True, tag="quit"):
    ref: Ref = None


# -- both directions -----------------------------------------------------------


class Ping(_Frame, frozen=True, tag="ping"):
    ref: Ref = None


class Pong(_Frame, frozen=True, tag="pong"):
    ref: Ref = None


# -- server to client ----------------------------------------------------------


class Welcome(_Frame, frozen=True, tag="welcome"):
    server: str
    version: int
    max_frame: int
    max_text: int


class AuthOk(_Frame, frozen=True, tag="auth_ok"):
    username: str
    token: str
    ref: Ref = None

    def __repr__(self) -> str:
        return f"AuthOk(username={self.username!r}, token=<hidden>, ref={self.ref!r})"


class Message(_Frame, frozen=True, tag="message"):
    id: int
    room: str
    sender: str = msgspec.field(name="from")
    text: str
    ts: str
    nonce: str | None = None


class Presence(_Frame, frozen=True, tag="presence"):
    event: Literal["join", "leave"]
    room: str
    username: str


class Error(_Frame, frozen=True, tag="error"):
    code: str
    message: str
    ref: Ref = None
    retry_after: float | None = None


class Bye(_Frame, frozen=True, tag="bye"):
    reason: str


ClientFrame = Register | Login | Resume | Send | Quit | Ping | Pong
ServerFrame = Welcome | AuthOk | Message | Presence | Error | Bye | Ping | Pong
Frame = ClientFrame | ServerFrame

CLIENT_FRAME_TYPES: frozenset[str] = frozenset(
    c.__struct_config__.tag for c in (Register, Login, Resume, Send, Quit, Ping, Pong)  # type: ignore[misc]
)
SERVER_FRAME_TYPES: frozenset[str] = frozenset(
    c.__struct_config__.tag for c in (Welcome, AuthOk, Message, Presence, Error, Bye, Ping, Pong)  # type: ignore[misc]
)
