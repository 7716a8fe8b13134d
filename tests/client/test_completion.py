from __future__ import annotations

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from chatapp.client.completion import ChatCompleter, Roster


def complete(completer: ChatCompleter, text: str) -> list[str]:
    document = Document(text, len(text))
    return [c.text for c in completer.get_completions(document, CompleteEvent(completion_requested=True))]


def test_roster_orders_by_recent_activity_and_skips_me() -> None:
    roster = Roster("alice")
    roster.joined("bob")
    roster.joined("carol")
    roster.spoke("alice")
    roster.spoke("bob")
    assert roster.names() == ["bob", "carol"]
    roster.left("bob")
    assert roster.names() == ["carol", "bob"]  # online people first
    assert roster.online() == ["alice", "carol"]


def test_roster_ignores_names_that_are_not_usernames() -> None:
    roster = Roster()
    roster.joined("\x1b[2Jevil")
    roster.spoke("a b")
    assert roster.names() == []


def test_roster_is_case_insensitive() -> None:
    roster = Roster()
    roster.joined("Bob")
    roster.spoke("bob")
    assert roster.names() == ["bob"]


def test_complete_commands() -> None:
    completer = ChatCompleter(lambda: [])
    assert complete(completer, "/h") == ["/help "]
    every = ("help", "quit", "exit", "clear", "reconnect", "say")
    assert complete(completer, "/") == [f"/{n} " for n in every]
    assert complete(completer, "/quit x") == []


def test_complete_names() -> None:
    completer = ChatCompleter(lambda: ["bob", "Bobby", "carol"])
    assert complete(completer, "bo") == ["bob: ", "Bobby: "]
    assert complete(completer, "hi ca") == ["carol "]
    assert complete(completer, "hi ") == []
    assert complete(completer, "/say hello ca") == ["carol "]
