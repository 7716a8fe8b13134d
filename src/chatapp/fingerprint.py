"""A TLS certificate's SHA-256 fingerprint, written one way everywhere.

The server logs it (``event=tls fingerprint=SHA256:…``), ``chatapp-admin
fingerprint`` prints it, and the client shows and remembers it: all of them call
:func:`certificate_fingerprint`, so the strings compare equal. The form is
``SHA256:`` then the 32 bytes of the hash of the DER certificate as upper-case
hex pairs joined by colons, the form ``openssl x509 -noout -fingerprint -sha256``
prints, so an operator can check it with a tool that is not ours.
"""

from __future__ import annotations

import hashlib
import re

PREFIX = "SHA256:"
_HEX_PAIRS = re.compile(r"[0-9A-F]{2}(?::[0-9A-F]{2}){31}")


def certificate_fingerprint(der: bytes) -> str:
    """``SHA256:AB:CD:…`` for a certificate in DER form (``ssl`` gives it as
    ``getpeercert(binary_form=True)``)."""
    return PREFIX + ":".join(f"{byte:02X}" for byte in hashlib.sha256(der).digest())


def parse_fingerprint(text: str) -> str | None:
    """A fingerprint typed or pasted by a person, in the canonical form, or None if it is not one.

    Accepted: with or without the ``SHA256:`` prefix (any case), hex digits in either case, with
    colons between the pairs or none at all; surrounding whitespace is ignored. Bounded: anything
    longer than a fingerprint could be is refused without further work.
    """
    text = text.strip()
    if len(text) > 128:
        return None
    if text[: len(PREFIX)].upper() == PREFIX:
        text = text[len(PREFIX) :]
    digits = text.upper()
    if ":" not in digits and len(digits) == 64:
        digits = ":".join(digits[i : i + 2] for i in range(0, 64, 2))
    return PREFIX + digits if _HEX_PAIRS.fullmatch(digits) else None
