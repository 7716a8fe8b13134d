"""Delivery in memory: one write per recipient per turn, runs per room, the send-queue cut-off."""

from __future__ import annotations

from chatapp.protocol import Message, encode
from chatapp.server.transport.delivery import Delivery, Outbox, Parts
from tests.server.inmemory import MemorySink, Turns


def frame(message_id: int, room: str = "dev", nonce: str | None = None) -> bytes:
    return encode(
        Message(id=message_id, room=room, sender="alice", text=f"m{message_id}", ts="t", nonce=nonce)
    )


class Recipient:
    def __init__(self) -> None:
        self.calls: list[tuple[bytes, int, Parts | None]] = []

    def deliver(self, data: bytes, message_id: int, parts: Parts | None, /) -> None:
        self.calls.append((data, message_id, parts))


def outbox(limit: int = 1000) -> tuple[Outbox, MemorySink, Turns, list[str]]:
    turns, sink, overflows = Turns(), MemorySink(), []
    box = Outbox(sink, limit, Delivery(turns), lambda: overflows.append("cut off"))
    return box, sink, turns, overflows


def test_what_one_turn_queues_goes_out_as_one_write_at_the_end_of_the_turn() -> None:
    box, sink, turns, _ = outbox()
    box.push(b"one\n")
    box.push(b"two\n")
    box.push(b"three\n")
    assert sink.writes == []
    assert len(turns.scheduled) == 1  # one callback for the whole turn
    turns.end()
    assert sink.writes == [b"one\ntwo\nthree\n"]
    turns.end()
    assert sink.writes == [b"one\ntwo\nthree\n"]  # nothing new, nothing written


def test_a_recipient_too_far_behind_is_cut_off_once_and_gets_nothing_more() -> None:
    box, sink, turns, overflows = outbox(limit=10)
    box.push(b"12345\n")
    box.push(b"67890\n")  # 12 bytes queued: over the limit
    assert overflows == ["cut off"]
    box.push(b"more\n")
    turns.end()
    assert sink.writes == [] and overflows == ["cut off"]


def test_what_the_transport_has_not_sent_yet_counts_toward_the_limit() -> None:
    box, sink, turns, overflows = outbox(limit=100)
    box.push(b"x" * 60)
    sink.buffered = 60  # the client does not read: what is written stays in the transport's buffer
    turns.end()
    box.push(b"y" * 30)
    assert overflows == []
    box.push(b"z" * 20)
    assert overflows == ["cut off"]


def test_the_goodbye_goes_past_the_limit_and_is_the_last_thing_written() -> None:
    box, sink, turns, overflows = outbox(limit=10)
    box.push(b"12345\n")
    box.push_final(b"bye: send queue exceeded\n")
    box.push(b"late\n")
    box.flush()
    assert sink.writes == [b"12345\nbye: send queue exceeded\n"] and overflows == []


def test_nothing_is_written_to_a_closing_transport() -> None:
    box, sink, turns, _ = outbox()
    box.push(b"one\n")
    sink.closed = True
    turns.end()
    box.push_final(b"bye\n")
    box.flush()
    assert sink.writes == []


def test_frames_published_to_a_room_in_one_turn_reach_each_member_as_one_run() -> None:
    turns = Turns()
    delivery = Delivery(turns)
    alice, bob = Recipient(), Recipient()
    dev = {1: alice, 2: bob}
    for message_id in (1, 2, 3):
        delivery.publish(dev, frame(message_id), message_id)
    assert alice.calls == [] and len(turns.scheduled) == 1
    turns.end()
    for member in (alice, bob):
        ((data, last_id, parts),) = member.calls
        assert data == frame(1) + frame(2) + frame(3) and last_id == 3
        assert parts is not None and [message_id for _, message_id in parts] == [1, 2, 3]
    assert alice.calls[0][0] is bob.calls[0][0]  # joined once, the same bytes for everyone


def test_several_frames_published_at_once_join_the_room_s_run_in_order() -> None:
    """Another process's batch comes as its frames at once (``publish_parts``): they go on the
    room's run of this turn like frames published one by one, and the run after them too."""
    delivery = Delivery(Turns())
    alice = Recipient()
    dev = {1: alice}
    delivery.publish(dev, frame(1), 1)
    delivery.publish_parts(dev, [(frame(2), 2), (frame(3), 3)])
    delivery.publish(dev, frame(4), 4)
    delivery.publish_parts({1: alice}, [(frame(5, "ops"), 5)])  # another room: a run of its own
    delivery.hand_out()
    (data, last_id, parts), (ops, ops_id, ops_parts) = alice.calls
    assert data == frame(1) + frame(2) + frame(3) + frame(4) and last_id == 4
    assert parts is not None and [message_id for _, message_id in parts] == [1, 2, 3, 4]
    assert (ops, ops_id, ops_parts) == (frame(5, "ops"), 5, None)


def test_a_lone_frame_is_handed_out_without_parts() -> None:
    delivery = Delivery(Turns())
    alice = Recipient()
    delivery.publish({1: alice}, frame(7), 7)
    delivery.hand_out()
    assert alice.calls == [(frame(7), 7, None)]


def test_runs_keep_publishing_order_across_rooms() -> None:
    delivery = Delivery(Turns())
    alice = Recipient()
    dev, ops = {1: alice}, {1: alice}
    delivery.publish(dev, frame(1), 1)
    delivery.publish(ops, frame(2, "ops"), 2)
    delivery.publish(dev, frame(3), 3)
    delivery.hand_out()
    assert [(data, last) for data, last, _ in alice.calls] == [
        (frame(1), 1),
        (frame(2, "ops"), 2),
        (frame(3), 3),
    ]


def test_the_requester_gets_its_own_copies_in_place_inside_the_run() -> None:
    delivery = Delivery(Turns())
    alice, bob = Recipient(), Recipient()
    dev = {1: alice, 2: bob}
    delivery.publish(dev, frame(1), 1, own=(1, frame(1, nonce="n1")))
    delivery.publish(dev, frame(2), 2)
    delivery.hand_out()
    assert alice.calls[0][0] == frame(1, nonce="n1") + frame(2)
    assert bob.calls[0][0] == frame(1) + frame(2)


def test_members_are_read_when_the_run_is_handed_out_and_may_leave_during_it() -> None:
    delivery = Delivery(Turns())
    dev: dict[int, Recipient] = {}

    class Leaver(Recipient):
        def deliver(self, data: bytes, message_id: int, parts: Parts | None, /) -> None:
            super().deliver(data, message_id, parts)
            dev.pop(1, None)  # cut off while being delivered to: it leaves the room

    leaver, stayer = Leaver(), Recipient()
    delivery.publish(dev, frame(1), 1)
    dev.update({1: leaver, 2: stayer})
    delivery.hand_out()
    assert len(leaver.calls) == len(stayer.calls) == 1


def test_the_end_of_the_turn_hands_out_runs_before_writing_outboxes() -> None:
    turns = Turns()
    delivery = Delivery(turns)
    sink = MemorySink()
    box = Outbox(sink, 1 << 20, delivery, lambda: None)
    member = Recipient()
    member.deliver = box.push  # type: ignore[method-assign]  # as a session's deliver is, normally
    box.push(b"before\n")
    delivery.publish({1: member}, frame(1), 1)
    turns.end()
    assert sink.writes == [b"before\n" + frame(1)]
