"""Wire protocol v1, sans-I/O: frames, codec, line framing, limits and rules.

No asyncio and no database here: server, client, tests and benchmarks share it.
"""

from .codec import decode_client_frame, decode_server_frame, encode
from .errors import ErrorCode, ProtocolError
from .frames import (
    AuthOk,
    Bye,
    ClientFrame,
    Error,
    Frame,
    Login,
    Message,
    Ping,
    Pong,
    Presence,
    Quit,
    Register,
    Resume,
    Send,
    ServerFrame,
    Welcome,
)
from .framing import LINE_TOO_LONG, LineSplitter
from .limits import DEFAULT_ROOM, MAX_FRAME_BYTES, MAX_TEXT_CHARS, PROTOCOL_VERSION
from .reasons import NO_RECONNECT, ByeReason

__all__ = [
    "DEFAULT_ROOM",
    "LINE_TOO_LONG",
    "MAX_FRAME_BYTES",
    "MAX_TEXT_CHARS",
    "PROTOCOL_VERSION",
    "NO_RECONNECT",
    "AuthOk",
    "ByeReason",
    "Bye",
    "ClientFrame",
    "Error",
    "ErrorCode",
    "Frame",
    "LineSplitter",
    "Login",
    "Message",
    "Ping",
    "Pong",
    "Presence",
    "ProtocolError",
    "Quit",
    "Register",
    "Resume",
    "Send",
    "ServerFrame",
    "Welcome",
    "decode_client_frame",
    "decode_server_frame",
    "encode",
]
