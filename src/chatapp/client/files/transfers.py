"""Uploads and downloads over the session's own connection, as tasks on the event loop.

:class:`Transfers` belongs to a :class:`~chatapp.client.net.session.ChatSession`
(``session.files``). The session shows it every event first (:meth:`Transfers.take`):
it takes out the answers to its own frames (``upload_ready``, ``upload_ack``,
``upload_done``, ``file_chunk``, and ``error`` by ``ref``), remembers the
files that messages share (by id, for ``/download ID``), and lets the rest
through. What it has to say comes out as :class:`TransferNote` and
:class:`TransferProgress` events among the session's.

Pacing (docs/protocol.md, "File sharing"): an upload keeps at most
``UPLOAD_WINDOW`` chunks unacknowledged and a download at most as many
``file_read`` unanswered, so a transfer never holds more than a few chunks in
the connection's send queue and chat frames go out between them. Reading,
writing and hashing files run in threads; the loop only moves frames.

Resuming: a lost connection interrupts the frame exchange (:class:`Interrupted`);
the transfer waits until the session is signed in again and starts over from
where the server is: ``upload_start`` of the same file answers with the offset
the server already has (also after the client was killed and started again),
and a download continues from the bytes in its partial file
(``.ID.part`` in the download directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .base import Interrupted, TransferFailed
from .downloads import Downloads
from .uploads import Uploads

if TYPE_CHECKING:
    from ..net.session import ChatSession

__all__ = ["Interrupted", "TransferFailed", "Transfers"]


class Transfers(Uploads, Downloads):
    """See the module docstring: uploads (``uploads.py``) and downloads (``downloads.py``) of one session,
    over what they share (``base.py``)."""

    def __init__(self, session: ChatSession, download_dir: Path | None = None) -> None:
        super().__init__(session, download_dir)
