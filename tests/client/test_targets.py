from __future__ import annotations

from chatapp.client.ui.targets import Kind, Targets


def test_starts_in_one_room_and_keeps_order() -> None:
    targets = Targets("general")
    assert [t.label for t in targets] == ["#general"]
    assert targets.active.label == "#general" and targets.active.is_room
    rust = targets.room("rust")
    bob = targets.dm("Bob")
    assert targets.room("rust") is rust and targets.dm("bob") is bob  # names ignore case for people
    assert bob.name == "bob"  # the spelling is the latest one given (the server's)
    assert [t.label for t in targets] == ["#general", "#rust", "@bob"]
    assert [t.name for t in targets.rooms()] == ["general", "rust"]
    assert targets.resolve("3") is bob  # its number for /switch


def test_step_wraps_around() -> None:
    targets = Targets("general")
    rust = targets.room("rust")
    bob = targets.dm("bob")
    assert targets.step(1) is rust and targets.step(-1) is bob
    targets.activate(bob)
    assert targets.step(1) is targets.find(Kind.ROOM, "general")


def test_resolve_names_labels_and_numbers() -> None:
    targets = Targets("general")
    rust = targets.room("rust")
    bob = targets.dm("bob")
    for word in ("#rust", "rust", "RUST", "#Rust"):
        assert targets.resolve(word) is rust
    assert targets.resolve("@bob") is bob and targets.resolve("Bob") is bob
    assert targets.resolve("2") is rust and targets.resolve("3") is bob
    assert targets.resolve("0") is None and targets.resolve("4") is None
    assert targets.resolve("#bob") is None and targets.resolve("@rust") is None


def test_activating_clears_unread() -> None:
    targets = Targets("general")
    rust = targets.room("rust")
    rust.unread, rust.mentions = 3, 1
    previous = targets.activate(rust)
    assert previous.label == "#general" and targets.active is rust
    assert rust.unread == 0 and rust.mentions == 0


def test_remove_moves_to_a_neighbour_and_keeps_the_last() -> None:
    targets = Targets("general")
    rust = targets.room("rust")
    bob = targets.dm("bob")
    targets.activate(rust)
    assert targets.remove(rust)
    assert targets.active.label == "#general" and [t.label for t in targets] == ["#general", "@bob"]
    general = targets.active
    assert targets.remove(general) and targets.active is bob
    assert not targets.remove(bob)  # the last one stays
    assert [t.label for t in targets] == ["@bob"]


def test_who_is_online_in_a_room() -> None:
    targets = Targets("general")
    general = targets.active
    general.set_online("Carol")
    general.set_online("bob", "lunch")
    assert general.online_names() == ["bob", "Carol"]
    assert general.online["bob"].away == "lunch"
    general.set_offline("CAROL")
    assert general.online_names() == ["bob"]
