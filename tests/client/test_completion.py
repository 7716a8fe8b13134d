from __future__ import annotations

from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from chatapp.client.ui.completion import ChatCompleter
from chatapp.client.ui.roster import Roster


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
    assert complete(completer, "/he") == ["/help "]
    assert complete(completer, "/h") == ["/help ", "/history ", "/highlights "]
    moderation = ("kick", "ban", "unban", "mute", "unmute", "op", "deop", "transfer", "invite", "uninvite",
                  "private", "deleteroom", "delete", "sanctions", "profile", "passwd", "suspend", "unsuspend",
                  "smute", "sunmute", "disconnect", "users", "banip", "unbanip", "ipbans", "audit", "promote",
                  "resetpw", "reloadfilters")
    every = ("help", "join", "leave", "part", "switch", "w", "msg", "rooms", "who", "names", "whois", "topic",
             "away", "history", "sessions", "endsession", "query", "close", "win", "windows", "highlights",
             "lastlog", "url", "ignore", "unignore", "upload", "download", "plain", "verify", "trust",
             "devices", *moderation, "set", "quit", "exit", "clear", "reconnect", "say", "me")
    assert complete(completer, "/") == [f"/{n} " for n in every]
    assert complete(completer, "/quit x") == []
    assert complete(completer, "/set time") == ["timestamp_seconds ", "timestamp_date "]


def test_roster_remembers_people_seen_in_history_behind_the_live_ones() -> None:
    roster = Roster("alice")
    roster.saw("zed")
    roster.joined("bob")
    roster.saw("bob")  # already known: stays where it is
    roster.saw("not a name")
    assert roster.names() == ["bob", "zed"]
    assert roster.online() == ["bob"]


def test_complete_the_first_argument_by_what_the_command_takes() -> None:
    completer = ChatCompleter(
        lambda: ["bob", "carol"],
        users=lambda: ["bob", "Bobby", "carol", "dave"],
        rooms=lambda: ["general", "rust", "rustaceans"],
        targets=lambda: ["#general", "#rust", "@bob"],
    )
    assert complete(completer, "/join ru") == ["#rust ", "#rustaceans "]
    assert complete(completer, "/join #rusta") == ["#rustaceans "]
    assert complete(completer, "/who g") == ["#general "]
    assert complete(completer, "/topic #") == ["#general ", "#rust ", "#rustaceans "]
    assert complete(completer, "/leave ") == ["#general ", "#rust ", "@bob "]
    assert complete(completer, "/switch b") == ["@bob "]
    assert complete(completer, "/w @") == ["@bob "]
    assert complete(completer, "/w #r") == ["#rust "]
    assert complete(completer, "/msg bo") == ["bob ", "Bobby "]
    assert complete(completer, "/whois @da") == ["dave "]
    assert complete(completer, "/msg bob hi ca") == ["carol "]  # the text: names as usual
    assert complete(completer, "/away ca") == ["carol "]  # a command without a kind of argument
    assert complete(completer, "/join x") == []


def test_complete_names() -> None:
    completer = ChatCompleter(lambda: ["bob", "Bobby", "carol"])
    assert complete(completer, "bo") == ["bob: ", "Bobby: "]
    assert complete(completer, "hi ca") == ["carol "]
    assert complete(completer, "hi ") == []
    assert complete(completer, "/say hello ca") == ["carol "]


def test_complete_moderation_arguments() -> None:
    completer = ChatCompleter(lambda: ["bob", "bella", "carol"], users=lambda: ["dave", "bob"])
    assert complete(completer, "/kick b") == ["bob ", "bella "]  # people of the active room first
    assert complete(completer, "/ban @be") == ["bella "]
    assert complete(completer, "/unban d") == ["dave "]  # someone banned is not in the room: anyone known
    assert complete(completer, "/suspend ") == ["dave ", "bob "]
    assert complete(completer, "/private ") == ["on ", "off "]
    assert complete(completer, "/private O") == ["on ", "off "]
    assert complete(completer, "/profile b") == ["bio "]
    assert complete(completer, "/audit m") == ["more "]
    assert complete(completer, "/promote bob ") == ["admin ", "moderator ", "user "]
    assert complete(completer, "/promote bob mo") == ["moderator "]
    assert complete(completer, "/kick bob sp") == []  # a reason is free text
    rooms = ChatCompleter(lambda: ["bob"], rooms=lambda: ["dev", "general"])
    assert complete(rooms, "/kick #d") == ["#dev "]
    assert complete(rooms, "/kick #dev b") == ["bob "]
    assert complete(rooms, "/private #dev o") == ["on ", "off "]
    assert complete(rooms, "/sanctions g") == ["#general "]
    assert complete(completer, "/pri") == ["/private "]
    assert complete(completer, "/res") == ["/resetpw "]
