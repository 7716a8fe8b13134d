"""The SHA-256 fingerprint of a certificate, in the one form users see and type.

``SHA256:`` then the digest of the certificate's DER bytes as upper-case hex
pairs joined by colons (the form ``openssl x509 -fingerprint -sha256`` prints,
after its label). :func:`parse_fingerprint` takes what a user pastes
(``--accept-fingerprint``): the prefix is optional, case and colons do not
matter, anything else is refused.
"""

from __future__ import annotations

import hashlib
import re

PREFIX = "SHA256:"
_HEX = re.compile(r"[0-9A-F]{64}")
MAX_INPUT = 200
"""Longest text :func:`parse_fingerprint` looks at (the canonical form is 102 characters)."""


def fingerprint(der: bytes) -> str:
    """``SHA256:AB:CD:...`` for the DER-encoded certificate ``der``."""
    digest = hashlib.sha256(der).hexdigest().upper()
    return PREFIX + ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def parse_fingerprint(text: str) -> str:
    """The canonical form of a typed fingerprint; ValueError with a sentence if it is not one."""
    raw = text.strip()
    if len(raw) > MAX_INPUT:
        raise ValueError("too long to be a SHA-256 fingerprint")
    if raw.upper().startswith(PREFIX):
        raw = raw[len(PREFIX) :]
    digits = raw.replace(":", "").upper()
    if not _HEX.fullmatch(digits):
        raise ValueError("not a SHA-256 fingerprint (expected SHA256: and 32 hex pairs)")
    return PREFIX + ":".join(digits[i : i + 2] for i in range(0, len(digits), 2))
