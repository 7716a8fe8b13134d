"""File sharing on the wire: uploads in chunks, the file a message names, downloads in chunks
(docs/protocol.md, "File sharing").

A file travels over the connection the client already has (TCP, TLS or the web
client's WebSocket) as chunks of raw bytes, base64 in the JSON (msgspec's
``bytes``), each at most ``FILE_CHUNK_MAX`` bytes so that its frame stays well
under the frame limit and chat frames interleave with it. The receiver sets the
pace: an uploader keeps at most ``UPLOAD_WINDOW`` chunks unacknowledged, a
downloader asks for each chunk with ``file_read``.

Two steps, the same for rooms, plain and encrypted direct messages: upload
(``upload_start`` … ``upload_done``, which gives a file id), then post a
``send`` or ``dm`` that names the file. Every field is bounded here.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from .frame_base import BaseFrame, Ref
from .limits import FILE_CHUNK_MAX, FILE_NAME_MAX, MIME_MAX, ROOM_MAX, USERNAME_MAX

FileId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{16,32}$")]
"""A file's id, random, chosen by the server: 16 to 32 of ``A-Z a-z 0-9 _ -``."""

UploadId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]{16,32}$")]
"""An unfinished upload's id, chosen by the server like a file's."""

Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
"""A SHA-256 digest as 64 lower-case hex digits."""

FileName = Annotated[str, msgspec.Meta(min_length=1, max_length=FILE_NAME_MAX)]
"""What the uploader calls the file. Only NUL is refused (rules.check_file_name): a receiving client
never uses it as a path without making it safe (no separators, no ``..``, no control characters)."""

Mime = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$",
                                   max_length=MIME_MAX)]
"""A media type in lower case without parameters (``image/png``): a hint for clients, never trusted."""

FileSize = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
ChunkData = Annotated[bytes, msgspec.Meta(max_length=FILE_CHUNK_MAX)]
ChunkLength = Annotated[int, msgspec.Meta(ge=1, le=FILE_CHUNK_MAX)]
RoomName = Annotated[str, msgspec.Meta(max_length=ROOM_MAX)]
UserName = Annotated[str, msgspec.Meta(max_length=USERNAME_MAX)]


class FileInfo(msgspec.Struct, frozen=True, omit_defaults=True):
    """A file as a message carries it (``message.file``, ``direct.file``)."""

    id: FileId
    name: FileName
    size: FileSize
    sha256: Sha256
    """Of the bytes stored (the ciphertext, for an encrypted file)."""
    mime: Mime | None = None
    encrypted: bool = False
    """The bytes are ciphertext: key, nonce, real name and type travel in the encrypted message."""


# -- client to server ----------------------------------------------------------


class UploadStart(BaseFrame, frozen=True, tag="upload_start"):
    """Begin (or resume) an upload of ``size`` bytes whose SHA-256 is ``sha256``, for a room or a person.

    Exactly one of ``room`` and ``to``. An unfinished upload of the same user, size, digest and
    target is resumed: ``upload_ready`` says from which offset.
    """

    name: FileName
    size: FileSize
    sha256: Sha256
    room: RoomName | None = None
    to: UserName | None = None
    mime: Mime | None = None
    encrypted: bool | None = None
    ref: Ref = None


class UploadChunk(BaseFrame, frozen=True, tag="upload_chunk"):
    """``data`` (1 to ``FILE_CHUNK_MAX`` bytes) at ``offset``, which must be the next byte the
    server expects; ``sha256`` is the digest of ``data`` alone."""

    upload: UploadId
    offset: Offset
    data: ChunkData
    sha256: Sha256
    ref: Ref = None

    def __repr__(self) -> str:  # a log line never holds a chunk's bytes
        return f"UploadChunk(upload={self.upload!r}, offset={self.offset}, bytes={len(self.data)})"


class UploadCancel(BaseFrame, frozen=True, tag="upload_cancel"):
    """Give an unfinished upload up: its bytes are removed and it no longer counts as one at once."""

    upload: UploadId
    ref: Ref = None


class FileRead(BaseFrame, frozen=True, tag="file_read"):
    """Ask for ``length`` bytes (default and most: ``FILE_CHUNK_MAX``) of a file from ``offset``."""

    file: FileId
    offset: Offset
    length: ChunkLength | None = None
    ref: Ref = None


class FileLink(BaseFrame, frozen=True, tag="file_link"):
    """Ask for a short-lived download address of a file, for a browser's plain HTTP GET."""

    file: FileId
    ref: Ref = None


# -- server to client ----------------------------------------------------------


class UploadReady(BaseFrame, frozen=True, tag="upload_ready"):
    upload: UploadId
    offset: Offset
    """The next byte to send: 0 for a new upload, more when an unfinished one is resumed."""
    ref: Ref = None


class UploadAck(BaseFrame, frozen=True, tag="upload_ack"):
    upload: UploadId
    offset: Offset
    """Every byte before this one is stored: the next chunk starts here."""
    ref: Ref = None


class UploadDone(BaseFrame, frozen=True, tag="upload_done"):
    """The whole file arrived and its digest matched: ``file`` may now be named by one message."""

    upload: UploadId
    file: FileInfo
    ref: Ref = None


class UploadCancelled(BaseFrame, frozen=True, tag="upload_cancelled"):
    upload: UploadId
    ref: Ref = None


class FileChunk(BaseFrame, frozen=True, tag="file_chunk"):
    file: FileId
    offset: Offset
    data: bytes
    eof: bool = False
    """True when this chunk ends the file (an empty ``data`` at ``offset`` = size too)."""
    ref: Ref = None

    def __repr__(self) -> str:
        return f"FileChunk(file={self.file!r}, offset={self.offset}, bytes={len(self.data)}, eof={self.eof})"


class FileUrl(BaseFrame, frozen=True, tag="file_url"):
    """The answer to ``file_link``: a path on the web port, for one user and one file until ``expires``."""

    file: FileId
    url: str
    expires: str
    ref: Ref = None


FILE_CLIENT_FRAMES = UploadStart | UploadChunk | UploadCancel | FileRead | FileLink
FILE_SERVER_FRAMES = UploadReady | UploadAck | UploadDone | UploadCancelled | FileChunk | FileUrl
