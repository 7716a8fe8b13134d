"""Stable error codes and the one exception type that carries them.

Every refusal the server sends is an ``error`` frame whose ``code`` is one of
:class:`ErrorCode`. Codes are part of the wire contract: clients branch on
them, humans read the ``message``. Handlers raise :class:`ProtocolError`; the
connection turns it into a frame in exactly one place.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    BAD_FRAME = "bad_frame"
    FRAME_TOO_LARGE = "frame_too_large"
    UNKNOWN_TYPE = "unknown_type"
    NOT_AUTHENTICATED = "not_authenticated"
    ALREADY_AUTHENTICATED = "already_authenticated"
    INVALID_USERNAME = "invalid_username"
    WEAK_PASSWORD = "weak_password"
    USERNAME_TAKEN = "username_taken"
    AUTH_FAILED = "auth_failed"
    ALREADY_LOGGED_IN = "already_logged_in"
    INVALID_TOKEN = "invalid_token"
    RATE_LIMITED = "rate_limited"
    TEXT_TOO_LONG = "text_too_long"
    INVALID_ROOM = "invalid_room"
    NOT_IN_ROOM = "not_in_room"
    NO_SUCH_ROOM = "no_such_room"
    NO_SUCH_USER = "no_such_user"
    FORBIDDEN = "forbidden"
    TOO_MANY_ROOMS = "too_many_rooms"
    NO_SUCH_SESSION = "no_such_session"
    # Moderation (see docs/protocol.md, "Moderation").
    BANNED = "banned"
    MUTED = "muted"
    SUSPENDED = "suspended"
    FILTERED = "filtered"
    INVITE_ONLY = "invite_only"
    NO_SUCH_MESSAGE = "no_such_message"
    INVALID_ADDRESS = "invalid_address"
    # End-to-end encryption (see docs/protocol.md, "End-to-end encrypted direct messages").
    TOO_MANY_DEVICES = "too_many_devices"
    DEVICE_CONFLICT = "device_conflict"
    BAD_SIGNATURE = "bad_signature"
    NO_SUCH_DEVICE = "no_such_device"
    NO_KEYS = "no_keys"
    # File sharing (see docs/protocol.md, "File sharing").
    FILE_TOO_LARGE = "file_too_large"
    QUOTA_EXCEEDED = "quota_exceeded"
    STORAGE_FULL = "storage_full"
    TOO_MANY_UPLOADS = "too_many_uploads"
    NO_SUCH_UPLOAD = "no_such_upload"
    NO_SUCH_FILE = "no_such_file"
    WRONG_OFFSET = "wrong_offset"
    BAD_CHUNK = "bad_chunk"
    DIGEST_MISMATCH = "digest_mismatch"
    FILE_ATTACHED = "file_attached"
    SERVER_ERROR = "server_error"


class ProtocolError(Exception):
    """A request was refused; ``code`` says why in a way a program can use.

    ``retry_after`` (seconds) is set for :attr:`ErrorCode.RATE_LIMITED`; ``until`` (an ISO 8601
    UTC time) for a ban, mute or suspension that ends by itself. A refusal by a file limit sets
    ``limit`` (the limit in force, in bytes or uploads) and ``over`` (by how much the request
    exceeds it); a refused chunk sets ``offset`` (where to send from).
    ``ref`` is the correlation value of the frame that failed, when the decoder
    could still read it from a frame it otherwise rejected.
    """

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        retry_after: float | None = None,
        ref: str | int | None = None,
        until: str | None = None,
        limit: int | None = None,
        over: int | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.ref = ref
        self.until = until
        self.limit = limit
        self.over = over
        self.offset = offset

    def __repr__(self) -> str:
        return f"ProtocolError({self.code.value!r}, {self.message!r})"


class LocalProtocolError(Exception):
    """This side tried to do something the protocol does not allow (send a frame its state does
    not allow, sign in twice): a bug in the caller, never the peer's fault. The peer's mistakes
    are :class:`ProtocolError` values with a code, which the other side is told about."""
