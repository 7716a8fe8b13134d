from __future__ import annotations

import pytest

from chatapp.client import commands
from chatapp.client.commands import (
    BadUsage,
    ClearScreen,
    Nothing,
    QuitChat,
    ReconnectNow,
    SendText,
    ShowHelp,
    UnknownCommand,
    parse,
)


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
        ("/join general", UnknownCommand("join", None)),
        ("/", UnknownCommand("", None)),
        (" /quit", SendText(" /quit")),
    ],
)
def test_parse(line: str, action: commands.Action) -> None:
    assert parse(line) == action


@pytest.mark.parametrize("line", ["/quit now", "/clear all", "/say", "/say   ", "/help a b"])
def test_bad_usage_is_reported_not_sent(line: str) -> None:
    action = parse(line)
    assert isinstance(action, BadUsage)
    assert action.usage.startswith("/")


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


def test_command_names_for_completion() -> None:
    names = commands.command_names()
    assert "/help" in names and "/quit" in names and "/exit" in names
    assert names == sorted(names)
