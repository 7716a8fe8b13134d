"""Where relayed messages get their id and time: the durable log or, for measuring, memory.

Both hand back a future that resolves once the message may be shown to anyone
— for the durable log, after the batch holding it is committed — so callers
publish from the future's callback and never wait per message.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from chatapp.server.store import MessageDraft, MessageWriter, StoredMessage, stored_from_draft


class MessageLog(Protocol):
    def submit(self, draft: MessageDraft) -> asyncio.Future[StoredMessage]:
        """Give the message its id; the future resolves when it is safe to deliver."""
        ...


class DurableMessageLog:
    """Messages are committed (group commit, one writer) before anyone sees them."""

    def __init__(self, writer: MessageWriter) -> None:
        self._writer = writer

    def submit(self, draft: MessageDraft) -> asyncio.Future[StoredMessage]:
        return self._writer.submit(draft)


class MemoryMessageLog:
    """No storage: ids count up from the last stored one for the life of the process.

    Only for measuring what durability costs (``--no-history``): there is no
    history, replay or nonce de-duplication.
    """

    def __init__(self, last_id: int = 0) -> None:
        self._last_id = last_id

    def submit(self, draft: MessageDraft) -> asyncio.Future[StoredMessage]:
        self._last_id += 1
        future: asyncio.Future[StoredMessage] = asyncio.get_running_loop().create_future()
        future.set_result(stored_from_draft(draft, self._last_id))
        return future
