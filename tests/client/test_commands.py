from __future__ import annotations

import pytest

from chatapp.client.ui import commands
from chatapp.client.ui.actions import (
    BadUsage,
    ClearScreen,
    DirectMessage,
    EndSession,
    FetchHistory,
    JoinRoom,
    LeaveTarget,
    ListRooms,
    ListSessions,
    Nothing,
    QuitChat,
    ReconnectNow,
    SendText,
    SetAway,
    SetTopic,
    ShowHelp,
    ShowTopic,
    SwitchTarget,
    UnknownCommand,
    WhoIs,
    WhoIsOnline,
)
from chatapp.client.ui.commands import parse


@pytest.mark.parametrize(
    ("line", "action"),
    [
        ("hello", SendText("hello")),
        ("  spaced  ", SendText("  spaced  ")),
        ("two\nlines", SendText("two\nlines")),
        ("", Nothing()),
        ("   ", Nothing()),
        ("/help", ShowHelp()),
        ("/HELP quit", ShowHelp("quit")),
        ("/help /quit", ShowHelp("quit")),
        ("/quit", QuitChat()),
        ("/exit", QuitChat()),
        ("exit", QuitChat()),
        (" exit ", QuitChat()),
        ("exit now", SendText("exit now")),
        ("/clear", ClearScreen()),
        ("/reconnect", ReconnectNow()),
        ("//shrug", SendText("/shrug")),
        ("//", SendText("/")),
        ("/say /not a command", SendText("/not a command")),
        ("/say exit", SendText("exit")),
        ("/say  two spaces", SendText(" two spaces")),
        ("/qiut", UnknownCommand("qiut", "/quit")),
        ("/he", UnknownCommand("he", "/help")),
        ("/jion general", UnknownCommand("jion", "/join")),
        ("/", UnknownCommand("", None)),
        (" /quit", SendText(" /quit")),
        # rooms: with or without '#', any case; the wire name is plain lowercase
        ("/join general", JoinRoom("general")),
        ("/join #rust", JoinRoom("rust")),
        ("/JOIN #Rust-Lang_2", JoinRoom("rust-lang_2")),
        ("/join  rust ", JoinRoom("rust")),
        ("/join -create #Rust", JoinRoom("rust", create=True)),
        ("/join --create rust", JoinRoom("rust", create=True)),
        ("/leave", LeaveTarget()),
        ("/leave rust", LeaveTarget("#rust")),
        ("/leave #Rust", LeaveTarget("#rust")),
        ("/leave @bob", LeaveTarget("@bob")),
        ("/switch rust", SwitchTarget("rust")),
        ("/switch #rust", SwitchTarget("#rust")),
        ("/w @bob", SwitchTarget("@bob")),
        ("/w 3", SwitchTarget("3")),
        ("/rooms", ListRooms()),
        ("/who", WhoIsOnline()),
        ("/who #rust", WhoIsOnline("rust")),
        ("/who rust", WhoIsOnline("rust")),
        ("/topic", ShowTopic()),
        ("/topic #rust", ShowTopic("rust")),
        ("/topic Rust talk", SetTopic(None, "Rust talk")),
        ("/topic rust is fun", SetTopic(None, "rust is fun")),  # a bare word is part of the topic
        ("/topic #rust Rust talk", SetTopic("rust", "Rust talk")),
        ("/topic --clear", SetTopic(None, "")),
        ("/topic #rust --clear", SetTopic("rust", "")),
        # direct messages: the text exactly as typed after one space
        ("/msg bob hello there", DirectMessage("bob", "hello there")),
        ("/msg @Bob  two spaces", DirectMessage("Bob", " two spaces")),
        ("/msg bob line one\nline two", DirectMessage("bob", "line one\nline two")),
        ("/msg bob", DirectMessage("bob")),
        ("/msg bob    ", DirectMessage("bob")),
        ("/whois bob", WhoIs("bob")),
        ("/whois @bob", WhoIs("bob")),
        ("/away", SetAway()),
        ("/away   ", SetAway()),
        ("/away out to  lunch", SetAway("out to lunch")),
        ("/history", FetchHistory(50)),
        ("/history 10", FetchHistory(10)),
        ("/history 200", FetchHistory(200)),
        ("/sessions", ListSessions()),
        ("/endsession 42", EndSession(42)),
        ("/ENDSESSION  7 ", EndSession(7)),
    ],
)
def test_parse(line: str, action: commands.Action) -> None:
    assert parse(line) == action


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("/quit now", "/quit takes no arguments"),
        ("/clear all", "/clear takes no arguments"),
        ("/rooms all", "/rooms takes no arguments"),
        ("/say", "/say needs the text"),
        ("/say   ", "/say needs the text"),
        ("/help a b", "at most one"),
        ("/join", "/join needs a room name"),
        ("/join a b", "/join takes one room name"),
        ("/join Bad!", "'Bad!' is not a room name: room names are 1 to 32"),
        ("/join -dash", "is not a room name"),
        ("/join " + "x" * 33, "is not a room name"),
        ("/leave a b", "/leave takes one room"),
        ("/leave @x", "'@x' is not a username"),
        ("/leave #no!", "is not a room name"),
        ("/switch", "/switch needs one"),
        ("/switch a b", "/switch needs one"),
        ("/who a b", "/who takes one room name"),
        ("/who #", "is not a room name"),
        ("/topic #bad! text", "is not a room name"),
        ("/topic " + "t" * 301, "A topic is at most 300 characters"),
        ("/msg", "/msg needs the name"),
        ("/msg b@d hi", "'b@d' is not a username"),
        ("/msg ab hi", "'ab' is not a username: usernames are 3 to 32"),
        ("/whois", "/whois needs one username"),
        ("/whois a b", "/whois needs one username"),
        ("/whois no!", "is not a username"),
        ("/away " + "a" * 201, "An away message is at most 200 characters"),
        ("/history 0", "from 1 to 200"),
        ("/history 201", "from 1 to 200"),
        ("/history ten", "from 1 to 200"),
        ("/history 1 2", "from 1 to 200"),
        ("/sessions a b", "/sessions takes at most one name"),
        ("/sessions b@d", "is not a username"),
        ("/endsession", "/endsession needs the number of one of your sessions"),
        ("/endsession 1 2", "/endsession needs the number"),
        ("/endsession -3", "/endsession needs the number"),
        ("/endsession \u00b2", "/endsession needs the number"),
        ("/endsession 1234567890123456789", "/endsession needs the number"),
    ],
)
def test_bad_usage_is_reported_not_sent(line: str, problem: str) -> None:
    action = parse(line)
    assert isinstance(action, BadUsage), action
    assert problem in action.problem
    assert action.usage.startswith("/" + action.command)


def test_unknown_command_hint() -> None:
    hint = commands.unknown_hint(UnknownCommand("qiut", "/quit"))
    assert "Unknown command /qiut" in hint
    assert "Did you mean /quit?" in hint
    assert "//" in hint
    assert "/help" in commands.unknown_hint(UnknownCommand("", None))


def test_help_lists_every_command_and_key() -> None:
    text = commands.help_text()
    for command in commands.COMMANDS:
        assert command.synopsis in text
    assert "//TEXT" in text
    assert "Ctrl-D" in text and "Tab" in text


def test_help_for_one_command() -> None:
    assert commands.help_text("quit").startswith("/quit (also /exit): leave the chat")
    assert "There is no command /qit. Did you mean /quit?" in commands.help_text("qit")


def test_every_command_and_alias_is_known() -> None:
    for name in ("help", "quit", "exit", "join", "leave", "switch", "w", "msg", "rooms", "who",
                 "whois", "topic", "away", "history", "sessions", "endsession"):
        command = commands.find(name)
        assert command is not None and name in (command.name, *command.aliases)


def test_help_for_the_new_commands() -> None:
    assert commands.help_text("w").startswith("/switch NAME (also /w): go to a room or conversation")
    assert commands.help_text("topic").startswith("/topic [#ROOM] [TEXT]: show or set the topic")
    text = commands.help_text()
    assert "Ctrl-N / Ctrl-P" in text and "PageUp at the top fetches older ones" in text


def test_help_for_the_session_commands() -> None:
    assert commands.help_text("sessions").startswith("/sessions [NAME]: list where you are signed in")
    assert commands.help_text("endsession").startswith("/endsession ID: sign out one of your sessions")
