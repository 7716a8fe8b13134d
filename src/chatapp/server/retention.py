"""Deleting messages older than the retention period, in the background."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from chatapp.clock import utc_now
from chatapp.server import activity
from chatapp.server.store import Store

log = logging.getLogger("chatapp.retention")

PRUNE_EVERY = 3600.0


async def prune_once(store: Store, days: int) -> int:
    deleted = await store.prune_messages(utc_now() - timedelta(days=days))
    if deleted:
        activity.record("history_pruned", messages=deleted, days=days)
    return deleted


async def prune_forever(store: Store, days: int, every: float = PRUNE_EVERY) -> None:
    """Prune every ``every`` seconds (the caller prunes once at start); failures are logged and retried."""
    while True:
        await asyncio.sleep(every)
        try:
            await prune_once(store, days)
        except Exception:
            log.exception("pruning old messages failed")
