"""A session in memory: what its client is sent while stored messages are replayed, and after."""

from __future__ import annotations

from chatapp.protocol import ByeReason, Message, Synced, encode
from chatapp.server.transport.delivery import Delivery
from tests.server.inmemory import Turns, make_session


def message(message_id: int) -> Message:
    return Message(id=message_id, room="general", sender="bob", text=f"m{message_id}", ts="t")


async def test_live_deliveries_wait_for_the_replay_and_what_it_carried_is_not_sent_twice() -> None:
    turns = Turns()
    session, sink, _ = make_session(Delivery(turns))
    async with session.holding_live():
        session.deliver(encode(message(3)), 3, None)  # arrives live while the replay is read
        session.deliver(
            encode(message(4)) + encode(message(5)), 5, [(encode(message(4)), 4), (encode(message(5)), 5)]
        )
        session.send_replayed(encode(message(2)) + encode(message(3)), [2, 3])
        session.send(Synced(last_id=3))
        turns.end()
        assert [f.id for f in sink.frames() if isinstance(f, Message)] == [2, 3]
    turns.end()
    frames = sink.frames()
    assert [f.id if isinstance(f, Message) else "synced" for f in frames] == [2, 3, "synced", 4, 5]
    assert session.delivered_id == 3  # what was handed to it directly; the hub knows the rest


async def test_after_the_replay_deliveries_go_straight_to_the_outbox() -> None:
    turns = Turns()
    session, sink, _ = make_session(Delivery(turns))
    async with session.holding_live():
        pass
    session.deliver(encode(message(9)), 9, None)
    turns.end()
    assert [f.id for f in sink.frames() if isinstance(f, Message)] == [9]


async def test_a_nested_hold_is_released_by_the_outer_one() -> None:
    turns = Turns()
    session, sink, _ = make_session(Delivery(turns))
    async with session.holding_live():
        async with session.holding_live():
            session.deliver(encode(message(1)), 1, None)
        turns.end()
        assert sink.frames() == []
    turns.end()
    assert len(sink.frames()) == 1


async def test_too_much_held_back_cuts_the_client_off() -> None:
    turns = Turns()
    session, sink, link = make_session(Delivery(turns), limit=100)
    async with session.holding_live():
        session.deliver(b"x" * 60, 1, None)
        session.deliver(b"y" * 60, 2, None)
        session.deliver(b"z", 3, None)
    assert link.closed == [(ByeReason.SEND_QUEUE_EXCEEDED, None, False)]
    turns.end()
    assert sink.writes == []


def test_a_session_displaced_by_its_own_resume_lives_on_and_one_displaced_by_another_ends() -> None:
    resumed, _, resumed_link = make_session(Delivery(Turns()))
    resumed.displaced(same_session=True)
    assert resumed.handed_over
    assert resumed_link.closed == [(ByeReason.REPLACED, "resumed_elsewhere", False)]
    replaced, _, replaced_link = make_session(Delivery(Turns()))
    replaced.displaced(same_session=False)
    assert not replaced.handed_over
    assert replaced_link.closed == [(ByeReason.REPLACED, "replaced", True)]
