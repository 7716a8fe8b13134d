"""Flood control per account: the same text again and again, and the account's rate over all its
connections (in memory with a clock the test moves; and on a running server across a reconnect)."""

from __future__ import annotations

import pytest

from chatapp.protocol import ErrorCode, Message, ProtocolError, Send, SendDirect
from chatapp.server.flood import TEXTS_KEPT, FloodGuard
from tests.server.conftest import Dial, ServerFactory
from tests.server.test_administration import NOISE


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def guard(clock: Clock, **settings: float) -> FloodGuard:
    options = {"repeat_limit": 3, "repeat_window": 60.0, "rate": 100.0, "burst": 100, **settings}
    return FloodGuard(clock=clock, **options)  # type: ignore[arg-type]


def refused(flood: FloodGuard, user_id: int, text: str) -> ProtocolError:
    with pytest.raises(ProtocolError) as refusal:
        flood.check(user_id, text)
    assert refusal.value.code is ErrorCode.RATE_LIMITED
    return refusal.value


def test_the_same_text_is_refused_past_the_limit_within_the_window() -> None:
    clock = Clock()
    flood = guard(clock)
    for _ in range(3):
        flood.check(1, "buy now")
        clock.now += 1
    refusal = refused(flood, 1, "buy now")
    assert "same message 3 times" in refusal.message
    assert refusal.retry_after == pytest.approx(57.0)
    flood.check(1, "something else")  # another text, another user: not held back
    flood.check(2, "buy now")
    flood.check(1, "Buy now")  # only the same text counts
    clock.now += 57.0  # the first of the three is out of the window
    flood.check(1, "buy now")
    refused(flood, 1, "buy now")  # a refused one was not counted, but the three in the window are


def test_an_account_cannot_dodge_the_rule_with_many_texts_forever() -> None:
    clock = Clock()
    flood = guard(clock, repeat_limit=2)
    texts = [f"spam {i}" for i in range(TEXTS_KEPT)]
    for text in texts * 2:
        flood.check(1, text)
    for text in texts:
        refused(flood, 1, text)
    # Memory per account is bounded: one more distinct text forgets the least recently sent.
    flood.check(1, "one more")
    flood.check(1, texts[0])


def test_the_accounts_rate_holds_over_all_its_connections() -> None:
    clock = Clock()
    flood = guard(clock, rate=1.0, burst=3, repeat_limit=0)
    for i in range(3):
        flood.check(7, f"m{i}")
    refusal = refused(flood, 7, "m3")
    assert "over all its connections" in refusal.message and refusal.retry_after == pytest.approx(1.0)
    clock.now += 1.0
    flood.check(7, "m4")
    flood.check(8, "m0")  # another account has its own


def test_idle_accounts_are_forgotten_when_the_map_is_full() -> None:
    clock = Clock()
    flood = FloodGuard(repeat_limit=2, repeat_window=10.0, rate=1.0, burst=1, clock=clock, max_accounts=4)
    for user in range(4):
        flood.check(user, "hi")
    clock.now += 11.0  # all idle for a window, buckets refilled
    flood.check(99, "hi")
    assert len(flood) == 1
    for user in range(100, 110):  # busy ones: half are forgotten at a time, never more than the cap
        flood.check(user, "hi")
        assert len(flood) <= 4


async def test_a_reconnect_does_not_refill_the_accounts_budget(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server(account_send_rate=0.01, account_send_burst=3, repeat_limit=2)
    bob = await dial(server)
    await bob.register("bob")
    token = bob.last_token
    for text in ("one", "one"):
        await bob.send(Send(room="general", text=text))
        await bob.expect(Message, skip=NOISE)
    await bob.send(SendDirect(to="bob", text="one", ref="dm"))  # to anyone: the same text
    repeat = await bob.expect_error("rate_limited", skip=NOISE)
    assert repeat.ref == "dm" and "same message 2 times" in repeat.message
    await bob.send(Send(room="general", text="two"))
    await bob.expect(Message, skip=NOISE)
    await bob.close()

    again = await dial(server)
    await again.resume(token)
    await again.send(Send(room="general", text="three", ref="r"))
    refusal = await again.expect_error("rate_limited", skip=NOISE)
    assert "your account is sending too fast" in refusal.message and refusal.retry_after
