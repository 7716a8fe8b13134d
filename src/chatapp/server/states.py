"""The states of a connection; the dispatch table is keyed by them."""

from __future__ import annotations

import enum


class State(enum.Enum):
    GREETED = "greeted"
    """Welcome sent, not signed in."""
    AUTHENTICATED = "authenticated"
    CLOSING = "closing"
