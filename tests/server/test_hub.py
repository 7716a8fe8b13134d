"""The hub alone, in memory: runs, the requester's own copies, and what it keeps of empty rooms.

Members here are plain recorders of what the hub hands them (the hub's ``Member``
protocol), so each test sees exactly the bytes and parts a session would get. The
end of the event-loop turn is the test's to call (``delivery.end_turn``).
"""

from __future__ import annotations

from datetime import UTC, datetime

from chatapp.protocol import Message, Presence, TopicChanged, decode_server_frame
from chatapp.server.hub import LocalHub
from chatapp.server.transport.delivery import Delivery, Parts


class Recorder:
    def __init__(self, user_id: int, username: str) -> None:
        self.user_id = user_id
        self.username = username
        self.session_id = user_id
        self.endpoint = "127.0.0.1:1"
        self.online_since = datetime.now(UTC)
        self.calls: list[tuple[bytes, int, Parts | None]] = []

    def deliver(self, data: bytes, message_id: int, parts: Parts | None, /) -> None:
        self.calls.append((data, message_id, parts))

    def displaced(self, *, same_session: bool) -> None:
        self.displaced_by = "resume" if same_session else "another session"

    def frames(self) -> list[object]:
        return [decode_server_frame(line) for data, _, _ in self.calls for line in data.splitlines()]


def message(
    message_id: int, sender: str = "alice", nonce: str | None = None, ref: int | None = None
) -> Message:
    return Message(
        id=message_id, room="dev", sender=sender, text=f"m{message_id}", ts="t", nonce=nonce, ref=ref
    )


def hub_and_delivery() -> tuple[LocalHub, Delivery]:
    """A hub whose turn ends when the test says (the server's loop calls ``end_turn``)."""
    delivery = Delivery(lambda end_turn: None)
    return LocalHub(delivery), delivery


def online_in_dev(hub: LocalHub, delivery: Delivery, *members: Recorder) -> None:
    for member in members:
        hub.attach(member, ["dev"])
    delivery.end_turn()
    for member in members:
        member.calls.clear()


def test_a_run_goes_to_each_member_in_one_call_with_the_senders_own_copies_in_place() -> None:
    hub, delivery = hub_and_delivery()
    alice, bob = Recorder(1, "alice"), Recorder(2, "bob")
    online_in_dev(hub, delivery, alice, bob)
    hub.publish("dev", message(1), 1, own=(1, message(1, nonce="n1", ref=7)))
    hub.publish("dev", message(2, "bob"), 2, own=(2, message(2, "bob", nonce="n2", ref=8)))
    hub.publish("dev", message(3), 3, own=(1, message(3, nonce="n3", ref=9)))
    assert alice.calls == bob.calls == []  # nothing before the end of the turn
    delivery.end_turn()
    assert len(alice.calls) == len(bob.calls) == 1
    assert [(f.id, f.nonce, f.ref) for f in alice.frames()] == [(1, "n1", 7), (2, None, None), (3, "n3", 9)]
    assert [(f.id, f.nonce, f.ref) for f in bob.frames()] == [(1, None, None), (2, "n2", 8), (3, None, None)]
    # Each member's parts say which frame carries which id (what a replaying connection sorts by).
    for member in (alice, bob):
        data, last_id, parts = member.calls[0]
        assert last_id == 3
        assert parts is not None and [message_id for _, message_id in parts] == [1, 2, 3]
        assert b"".join(part for part, _ in parts) == data


def test_a_run_without_own_copies_is_the_same_bytes_for_everyone() -> None:
    hub, delivery = hub_and_delivery()
    alice, bob = Recorder(1, "alice"), Recorder(2, "bob")
    online_in_dev(hub, delivery, alice, bob)
    hub.publish("dev", Presence(event="join", room="dev", username="carol"))
    hub.publish("dev", TopicChanged(room="dev", text="t", by="carol"))
    delivery.end_turn()
    assert alice.calls[0][0] is bob.calls[0][0]


def test_a_direct_message_gives_the_sender_its_own_copy() -> None:
    hub, delivery = hub_and_delivery()
    alice, bob = Recorder(1, "alice"), Recorder(2, "bob")
    online_in_dev(hub, delivery, alice, bob)
    shared = message(5)
    hub.send_to_users((1, 2), shared, 5, own=(1, message(5, nonce="n", ref=1)))
    assert [(f.nonce, f.ref) for f in alice.frames()] == [("n", 1)]
    assert [(f.nonce, f.ref) for f in bob.frames()] == [(None, None)]


def test_away_answers_the_requester_with_its_ref_and_tells_the_others_without() -> None:
    hub, delivery = hub_and_delivery()
    alice, bob = Recorder(1, "alice"), Recorder(2, "bob")
    online_in_dev(hub, delivery, alice, bob)
    hub.set_away(alice, "lunch", "r1")
    delivery.end_turn()
    assert [(f.event, f.ref) for f in alice.frames()] == [("away", "r1")]
    assert [(f.event, f.ref) for f in bob.frames()] == [("away", None)]


def test_nothing_is_kept_of_a_room_once_nobody_is_online_in_it() -> None:
    """Rooms come and go by the thousand: what the hub keeps is bounded by who is online."""
    hub, _ = hub_and_delivery()
    members = [Recorder(i, f"user{i}") for i in range(1, 201)]
    for i, member in enumerate(members):
        room = f"room{i}"
        hub.attach(member, [room])
        hub.publish(room, Message(id=i + 1, room=room, sender=member.username, text="x", ts="t"), i + 1)
    assert hub.last_delivered(members[-1].user_id) == 200
    for i, member in enumerate(members):
        if i % 2:
            hub.leave(member, f"room{i}")
        hub.detach(member)
    assert hub.online_count == 0
    assert hub.tracked_rooms == 0
