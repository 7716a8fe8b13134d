"""Parsing the moderation, profile and administration commands: what each line means, and what is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatapp.client.ui import actions
from chatapp.client.ui.actions import BadUsage
from chatapp.client.ui.commands import COMMANDS, help_text, parse
from chatapp.client.ui.modcommands import MODERATION_COMMANDS
from chatapp.protocol.limits import BIO_MAX, DISPLAY_NAME_MAX, REASON_MAX


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/kick bob", actions.ModerateUser("kick", "bob")),
        ("/kick @bob  spamming  links ", actions.ModerateUser("kick", "bob", reason="spamming links")),
        ("/kick #Dev bob spam", actions.ModerateUser("kick", "bob", "dev", reason="spam")),
        ("/ban bob", actions.ModerateUser("ban", "bob")),
        ("/ban bob 2h flooding", actions.ModerateUser("ban", "bob", reason="flooding", duration=7200)),
        ("/ban bob flooding again", actions.ModerateUser("ban", "bob", reason="flooding again")),
        ("/ban #dev bob 7d", actions.ModerateUser("ban", "bob", "dev", duration=604800)),
        ("/unban bob", actions.ModerateUser("unban", "bob")),
        ("/mute bob 10m calm down", actions.ModerateUser("mute", "bob", reason="calm down", duration=600)),
        ("/unmute #dev bob", actions.ModerateUser("unmute", "bob", "dev")),
        ("/op bob", actions.ModerateUser("op", "bob")),
        ("/deop bob", actions.ModerateUser("deop", "bob")),
        ("/transfer carol", actions.ModerateUser("transfer", "carol")),
        ("/invite #secret dave", actions.ModerateUser("invite", "dave", "secret")),
        ("/uninvite dave", actions.ModerateUser("uninvite", "dave")),
        ("/private on", actions.SetPrivate(None, True)),
        ("/private #dev OFF", actions.SetPrivate("dev", False)),
        ("/deleteroom", actions.RemoveRoom()),
        ("/deleteroom #old no longer used", actions.RemoveRoom("old", "no longer used")),
        ("/delete", actions.RemoveMessage()),
        ("/delete 42", actions.RemoveMessage(42)),
        ("/delete @mallory", actions.RemoveMessage(user="mallory")),
        ("/delete mallory", actions.RemoveMessage(user="mallory")),
        ("/sanctions", actions.ShowSanctions()),
        ("/sanctions #dev", actions.ShowSanctions("dev")),
        ("/profile", actions.ShowProfile()),
        ("/profile name Alice Liddell", actions.EditProfile(display_name="Alice Liddell")),
        ("/profile bio  I  like  tea ", actions.EditProfile(bio="I like tea")),
        ("/profile name --clear", actions.EditProfile(display_name="")),
        ("/profile bio --clear", actions.EditProfile(bio="")),
        ("/passwd", actions.ChangeOwnPassword()),
        ("/suspend bob", actions.ServerAdmin("suspend", user="bob")),
        ("/suspend bob 30d spam bot", actions.ServerAdmin("suspend", user="bob", reason="spam bot",
                                                         duration=30 * 86400)),
        ("/unsuspend bob", actions.ServerAdmin("unsuspend", user="bob")),
        ("/smute bob 1h", actions.ServerAdmin("mute", user="bob", duration=3600)),
        ("/sunmute bob", actions.ServerAdmin("unmute", user="bob")),
        ("/disconnect bob", actions.ServerAdmin("disconnect", user="bob")),
        ("/disconnect bob 12", actions.ServerAdmin("disconnect", user="bob", session=12)),
        ("/sessions bob", actions.ShowUserSessions("bob")),
        ("/sessions", actions.ListSessions()),
        ("/users", actions.ListAccounts()),
        ("/users ali", actions.ListAccounts("ali")),
        ("/users more", actions.ListAccounts(more=True)),
        ("/banip 203.0.113.0/24 2h abuse", actions.ServerAdmin("ban_address", address="203.0.113.0/24",
                                                              reason="abuse", duration=7200)),
        ("/banip 2001:db8::1", actions.ServerAdmin("ban_address", address="2001:db8::1")),
        ("/unbanip 203.0.113.0/24", actions.ServerAdmin("unban_address", address="203.0.113.0/24")),
        ("/ipbans", actions.ListAddressBans()),
        ("/audit", actions.ShowAudit()),
        ("/audit more", actions.ShowAudit(more=True)),
        ("/promote bob Moderator", actions.ServerAdmin("promote", user="bob", role="moderator")),
        ("/promote bob user", actions.ServerAdmin("promote", user="bob", role="user")),
        ("/resetpw bob", actions.ServerAdmin("reset_password", user="bob")),
        ("/reloadfilters", actions.ServerAdmin("reload_filters")),
    ],
)
def test_what_each_line_means(line: str, expected: object) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("/kick", "/kick needs the name of the person"),
        ("/kick b@d", "is not a username"),
        ("/kick #Not_OK! bob", "is not a room name"),
        ("/ban bob 5 spam", "'5' is not a duration"),
        ("/ban bob 10x", "'x' is not a unit"),
        ("/mute bob 0s", "is no time at all"),
        ("/mute bob 99999d", "is too long"),
        ("/kick bob " + "x" * (REASON_MAX + 1), f"A reason is at most {REASON_MAX} characters"),
        ("/unban bob because", "/unban takes only a name"),
        ("/kick bob sp\x00am", "A reason must not contain the NUL character"),
        ("/profile bio a\x00b", "A bio must not contain the NUL character"),
        ("/op bob now", "/op takes only a name"),
        ("/private", "/private needs on"),
        ("/private maybe", "/private needs on"),
        ("/delete b@d", "is not a username"),
        ("/delete 0", "/delete takes a message's number"),
        ("/delete 12ab", "/delete takes a message's number"),
        ("/delete 1 2", "/delete takes a message's number"),
        ("/sanctions a b", "/sanctions takes one room name"),
        ("/profile age 3", "/profile takes name TEXT or bio TEXT"),
        ("/profile name", "/profile name needs the text"),
        ("/profile name " + "n" * (DISPLAY_NAME_MAX + 1), f"A display name is at most {DISPLAY_NAME_MAX}"),
        ("/profile bio " + "b" * (BIO_MAX + 1), f"A bio is at most {BIO_MAX}"),
        ("/passwd hunter2", "/passwd takes no arguments"),
        ("/suspend", "/suspend needs the name of the person"),
        ("/suspend bob 3 months", "'3' is not a duration"),
        ("/unsuspend bob please", "/unsuspend takes only a name"),
        ("/disconnect", "/disconnect needs a name"),
        ("/disconnect bob one", "'one' is not a session number"),
        ("/users a b", "/users takes one word"),
        ("/users " + "q" * 65, "a search is at most 64 characters"),
        ("/banip", "/banip needs an IPv4 or IPv6 address"),
        ("/banip example.com", "is not an IPv4 or IPv6 address or CIDR range"),
        ("/banip 10.0.0.0/33", "is not an IPv4 or IPv6 address or CIDR range"),
        ("/banip 1.2.3.4 2x", "'x' is not a unit"),
        ("/unbanip", "/unbanip needs an IPv4 or IPv6 address"),
        ("/unbanip 1.2.3.4 5.6.7.8", "/unbanip takes one address"),
        ("/ipbans all", "/ipbans takes no arguments"),
        ("/audit 5", "/audit shows the newest events"),
        ("/promote bob", "/promote needs a name and a role"),
        ("/promote bob king", "/promote needs a name and a role"),
        ("/resetpw", "/resetpw needs the name of the person"),
        ("/reloadfilters now", "/reloadfilters takes no arguments"),
    ],
)
def test_bad_lines_are_refused_with_a_sentence(line: str, problem: str) -> None:
    action = parse(line)
    assert isinstance(action, BadUsage), action
    assert problem in action.problem
    assert action.usage.startswith("/" + line.split()[0][1:])


def test_every_moderation_command_is_in_the_table_and_in_help() -> None:
    names = {command.name for command in COMMANDS}
    listing = help_text()
    for command in MODERATION_COMMANDS:
        assert command.name in names
        assert f"  {command.synopsis} " in listing
        assert help_text(command.name).startswith(f"{command.synopsis}: {command.summary}")
    assert "/ban [#ROOM] NAME [DURATION] [REASON]" in listing
    assert "/promote NAME admin|moderator|user" in listing


@given(st.sampled_from([command.name for command in MODERATION_COMMANDS]), st.text(max_size=80))
def test_any_arguments_give_an_action_or_a_refusal(name: str, args: str) -> None:
    """No line can make the parser fail: it is a command to carry out, or a sentence with the usage."""
    action = parse(f"/{name} {args}")
    if isinstance(action, BadUsage):
        assert action.problem and action.usage.startswith(f"/{name}")
    else:
        assert isinstance(action, actions.ModerationAction | actions.ListSessions)
