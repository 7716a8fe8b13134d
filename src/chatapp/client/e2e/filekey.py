"""What opens an encrypted file: its key, nonce, digest, name and type, as they travel inside a payload.

An encrypted conversation's file is uploaded as ciphertext under a neutral
name (``client/files/sealing.py``); this record goes inside the Olm payload of
the ``dm`` that shares it (``envelope.Payload.file``) and is kept with the
message in the device's store (``store.Body.file``), so the server never
sees the key, the real name or the type.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from chatapp.protocol.limits import FILE_NAME_MAX, MIME_MAX

Key = Annotated[bytes, msgspec.Meta(min_length=32, max_length=32)]
Nonce = Annotated[bytes, msgspec.Meta(min_length=12, max_length=12)]


class FileKey(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    key: Key
    nonce: Nonce
    sha256: Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
    """Of the plaintext: checked after decrypting."""
    name: Annotated[str, msgspec.Meta(max_length=FILE_NAME_MAX)]
    mime: Annotated[str, msgspec.Meta(max_length=MIME_MAX)] | None = None
