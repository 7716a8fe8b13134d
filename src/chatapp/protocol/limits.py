"""Limits of protocol v1 that both ends know about.

The server may be configured with other values for frame and text size; it
announces the ones in force in its ``welcome`` frame.
"""

from __future__ import annotations

PROTOCOL_VERSION = 1

MAX_FRAME_BYTES = 64 * 1024
"""Longest line (without the newline) a peer must accept."""

MAX_TEXT_CHARS = 4000
"""Longest message text; longer ones are refused, never truncated."""

USERNAME_MIN, USERNAME_MAX = 3, 32
PASSWORD_MIN, PASSWORD_MAX = 8, 1024
ROOM_MAX = 32
NONCE_MAX = 64
TOKEN_MAX = 128
REF_MAX = 128
"""Longest string ``ref``: a reply echoes it, and every reply must fit in a frame."""
MESSAGE_ID_MAX = 2**63 - 1
"""Message ids are 64-bit signed integers in every database; larger ones are refused as ``bad_frame``."""
DEFAULT_ROOM = "general"
TOPIC_MAX = 300
AWAY_MAX = 200
HISTORY_PAGE_MAX = 200
HISTORY_PAGE_DEFAULT = 50
JOIN_CONTEXT = 20
"""Recent messages sent on ``join`` when the client gives no ``last_id``."""
SESSION_LIST_MAX = 100
"""Most sessions one ``session_list`` holds (the most recently used)."""
REASON_MAX = 300
"""Longest reason a moderator gives (kick, ban, mute, suspension, address ban)."""
DURATION_MAX = 10 * 366 * 24 * 3600
"""Longest ban, mute or suspension given as a duration: ten years; longer is "until lifted"."""
DISPLAY_NAME_MAX = 64
BIO_MAX = 300
ADDRESS_MAX = 64
"""Longest address or CIDR range an address ban names."""
ADMIN_PAGE_MAX = 100
"""Most entries one list of users, audit events or bans holds."""
ADMIN_PAGE_DEFAULT = 50
SEARCH_MAX = 64
"""Longest search string of ``users``."""
DEVICES_MAX = 10
"""Most devices (each with its own encryption keys) one user may have."""
RECIPIENT_DEVICES_MAX = 2 * DEVICES_MAX
"""Most ciphertexts one encrypted direct message carries: the recipient's devices and the sender's."""
ONE_TIME_KEYS_MAX = 100
"""Most unclaimed one-time keys kept per device (and published in one frame)."""
DEVICE_NAME_MAX = 64
FILE_CHUNK_MAX = 32 * 1024
"""Most bytes of file data in one ``upload_chunk`` or ``file_chunk`` (base64 in the frame: about 43,700
characters, well under the 64 KiB frame limit)."""
UPLOAD_WINDOW = 4
"""Most chunks an uploader sends ahead of their ``upload_ack``; a downloader keeps at most as many
``file_read`` unanswered. So a transfer never holds more than this many chunks in a send queue."""
FILE_NAME_MAX = 255
"""Longest file name (characters) an upload may give."""
MIME_MAX = 127
"""Longest media type an upload may give."""
MAX_FILE_SIZE_DEFAULT = 25 * 1024 * 1024
"""Largest file by default (``--max-file-size``)."""
