"""The barrier at which the scaling control's drivers start sending together (bench/driver/phases.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.driver.phases import meet


async def test_a_driver_waits_at_the_barrier_until_the_others_are_ready(tmp_path: Path) -> None:
    first = asyncio.ensure_future(meet(tmp_path, 3, timeout=30))
    second = asyncio.ensure_future(meet(tmp_path, 3, timeout=30))
    await asyncio.sleep(0.1)
    assert not first.done() and not second.done()  # two of three ready: both still wait
    assert await meet(tmp_path, 3, timeout=30)
    assert await asyncio.wait_for(first, 5) and await asyncio.wait_for(second, 5)
    assert len(list(tmp_path.iterdir())) == 3  # a mark each, though all came from one process


async def test_a_barrier_the_others_never_reach_gives_up_after_its_timeout(tmp_path: Path) -> None:
    assert not await meet(tmp_path, 2, timeout=0.05)
