"""The limits on what a signed-in user may do, in memory with a clock the test moves."""

from __future__ import annotations

import dataclasses

import pytest

from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.server.config import Config
from chatapp.server.services.limits import ROOM_CREATION_WINDOW, Limits
from chatapp.server.session import Session
from chatapp.server.transport.delivery import Delivery
from tests.server.inmemory import Turns, make_session


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup(**settings: object) -> tuple[Limits, Session, Clock]:
    clock = Clock()
    limits = Limits(dataclasses.replace(Config(), **settings), clock)  # type: ignore[arg-type]
    session, _, _ = make_session(Delivery(Turns()), session_budgets=limits.budgets())
    return limits, session, clock


def refusal(check: object, *args: object) -> ProtocolError:
    with pytest.raises(ProtocolError) as refused:
        check(*args)  # type: ignore[operator]
    return refused.value


def test_messages_come_in_a_burst_then_at_the_sustained_rate() -> None:
    limits, session, clock = setup(send_rate=2.0, send_burst=3)
    for _ in range(3):
        limits.check_send(session)
    error = refusal(limits.check_send, session)
    assert error.code is ErrorCode.RATE_LIMITED and error.retry_after == 0.5
    clock.now += 0.5
    limits.check_send(session)


def test_status_changes_have_a_budget_of_their_own() -> None:
    limits, session, _ = setup(send_burst=1, status_burst=2)
    limits.check_send(session)
    limits.check_status(session)
    limits.check_status(session)
    assert refusal(limits.check_status, session).code is ErrorCode.RATE_LIMITED
    assert refusal(limits.check_send, session).code is ErrorCode.RATE_LIMITED
    assert "joining, leaving or changing status" in refusal(limits.check_status, session).message


def test_each_session_starts_with_a_full_budget() -> None:
    limits, session, _ = setup(send_burst=1)
    limits.check_send(session)
    other, _, _ = make_session(Delivery(Turns()), 2, "bob", session_budgets=limits.budgets())
    limits.check_send(other)


def test_one_user_is_in_so_many_rooms_at_most() -> None:
    limits, session, _ = setup(max_rooms_per_user=2)
    session.room_ids = {"general": 1}
    limits.check_room_count(session)
    session.room_ids["rust"] = 2
    error = refusal(limits.check_room_count, session)
    assert error.code is ErrorCode.TOO_MANY_ROOMS and "2 rooms" in error.message


async def test_room_creations_per_hour_are_counted_per_user() -> None:
    limits, session, clock = setup(room_creations_per_hour=2)
    for _ in range(2):
        await limits.reserve_room_creation(session)
    with pytest.raises(ProtocolError) as refused:
        await limits.reserve_room_creation(session)
    assert refused.value.code is ErrorCode.RATE_LIMITED and refused.value.retry_after == ROOM_CREATION_WINDOW
    other, _, _ = make_session(Delivery(Turns()), 2, "bob")
    await limits.reserve_room_creation(other)
    clock.now += ROOM_CREATION_WINDOW
    counted = await limits.reserve_room_creation(session)
    # A join that found the room created meanwhile gives its count back.
    await limits.reserve_room_creation(session)
    await limits.room_not_created(counted)
    await limits.reserve_room_creation(session)
    with pytest.raises(ProtocolError):
        await limits.reserve_room_creation(session)


def test_a_replay_is_granted_up_to_the_most_per_replay_and_what_the_budget_holds() -> None:
    limits, session, clock = setup(replay_max=300, replay_budget=500)
    assert limits.grant_replay(session) == 300
    assert limits.grant_replay(session) == 200  # the rest of the hour's budget
    limits.unused_replay(session, 150)  # not sent: given back
    assert limits.grant_replay(session) == 150
    assert limits.grant_replay(session) == 0
    clock.now += 3600.0
    assert limits.grant_replay(session) == 300
