"""chatapp-admin's answers as lines: one sentence per action, lists one line per entry, inert text."""

from __future__ import annotations

from chatapp.admin.output import REFUSED, inert, show, when
from chatapp.protocol import Error, Ping, Pong, SessionInfo, SessionList
from chatapp.protocol.moderation_frames import (
    AddressBanInfo,
    AddressBanList,
    Admin,
    AdminDone,
    AuditEntry,
    AuditPage,
    ListAddressBans,
    ListUsers,
    ReadAudit,
    UserList,
    UserSessions,
    UserSummary,
)

AT = "2026-12-05T00:06:01.250Z"


def test_times_are_shown_in_utc_to_the_second() -> None:
    assert when(AT) == "2026-12-05 00:06:01 UTC"
    assert when(None) == "until lifted"
    assert when("not a time\x1b[2J") == "not a time\\x1b[2J"


def test_text_from_users_cannot_reach_the_terminal_as_control_characters() -> None:
    assert inert("spam\x1b]0;owned\x07 bye\u202e") == "spam\\x1b]0;owned\\x07 bye\\u202e"
    assert inert("plain café") == "plain café"


def test_each_admin_action_is_one_sentence() -> None:
    def said(request: Admin, done: AdminDone) -> list[str]:
        shown = show(request, done)
        assert shown.code == 0
        return shown.lines

    promote = Admin(action="promote", user="alice", role="admin")
    assert said(promote, AdminDone(action="promote", user="alice")) == ["alice is now an admin"]
    demote = Admin(action="promote", user="alice", role="user")
    assert said(demote, AdminDone(action="promote", user="alice")) == ["alice is now an ordinary user"]
    suspend = Admin(action="suspend", user="mallory")
    assert said(suspend, AdminDone(action="suspend", user="mallory", until=AT, count=1)) == [
        "mallory is suspended until 2026-12-05 00:06:01 UTC; 1 session ended"
    ]
    assert said(suspend, AdminDone(action="suspend", user="mallory", count=2)) == [
        "mallory is suspended until lifted; 2 sessions ended"
    ]
    unsuspend = Admin(action="unsuspend", user="mallory")
    assert said(unsuspend, AdminDone(action="unsuspend", user="mallory", count=1)) == [
        "mallory's suspension is lifted"
    ]
    not_suspended = AdminDone(action="unsuspend", user="mallory", count=0)
    assert said(unsuspend, not_suspended) == ["mallory was not suspended"]
    mute = Admin(action="mute", user="mallory")
    assert said(mute, AdminDone(action="mute", user="mallory", until=AT)) == [
        "mallory is muted server-wide until 2026-12-05 00:06:01 UTC"
    ]
    unmute = Admin(action="unmute", user="mallory")
    lifted = AdminDone(action="unmute", user="mallory", count=1)
    assert said(unmute, lifted) == ["mallory's server-wide mute is lifted"]
    assert said(unmute, AdminDone(action="unmute", user="mallory", count=0)) == ["mallory was not muted"]
    disconnect = Admin(action="disconnect", user="bob")
    assert said(disconnect, AdminDone(action="disconnect", user="bob", count=2)) == ["bob: 2 sessions ended"]
    ban = Admin(action="ban_address", address="203.0.113.7/24")
    assert said(ban, AdminDone(action="ban_address", address="203.0.113.0/24", count=0)) == [
        "203.0.113.0/24 is banned until lifted; 0 connections closed"
    ]
    unban = Admin(action="unban_address", address="203.0.113.0/24")
    assert said(unban, AdminDone(action="unban_address", address="203.0.113.0/24", count=0)) == [
        "203.0.113.0/24 was not banned"
    ]
    reset = Admin(action="reset_password", user="bob")
    lines = said(reset, AdminDone(action="reset_password", user="bob", password="s3cret-Pass", count=0))
    assert lines[0] == "new password for bob: s3cret-Pass" and "shown this once" in lines[1]
    reload = Admin(action="reload_filters")
    assert said(reload, AdminDone(action="reload_filters", count=3)) == ["filters reloaded: 3 rules"]


def test_a_refusal_is_the_servers_sentence_and_exit_code_1() -> None:
    refusal = Error(code="no_such_user", message="there is no user 'ghost'")
    shown = show(Admin(action="suspend", user="ghost"), refusal)
    assert shown.code == REFUSED
    assert shown.lines == ["refused (no_such_user): there is no user 'ghost'"]


def test_lists_are_one_line_per_entry_with_the_next_page_named() -> None:
    users = UserList(
        users=[
            UserSummary(username="alice", role="admin", created=AT, online=True, display_name="Alice\x1b[1m"),
            UserSummary(username="mallory", role="user", created=AT, suspended_until=""),
        ],
        has_more=True,
    )
    assert show(ListUsers(), users).lines == [
        "alice (Alice\\x1b[1m): admin, since 2026-12-05, online",
        "mallory: user, since 2026-12-05, suspended until lifted",
        "more: --after mallory",
    ]
    assert show(ListUsers(), UserList(users=[], has_more=False)).lines == ["no users"]
    sessions = SessionList(
        user="bob",
        sessions=[SessionInfo(id=7, address="127.0.0.1:5000", created=AT, last_seen=AT, connected=True)],
    )
    assert show(UserSessions(user="bob"), sessions).lines == [
        "session 7 (connected): from 127.0.0.1:5000, since 2026-12-05 00:06:01 UTC, "
        "last seen 2026-12-05 00:06:01 UTC"
    ]
    bans = AddressBanList(bans=[AddressBanInfo(address="10.0.0.0/8", since=AT, by="console", reason="flood")])
    assert show(ListAddressBans(), bans).lines == [
        "10.0.0.0/8 until lifted (since 2026-12-05 00:06:01 UTC by console): flood"
    ]
    audit = AuditPage(
        events=[
            AuditEntry(
                id=12,
                at=AT, actor="console", action="suspend", target="mallory", address="local",
                reason="spam",
            ),
            AuditEntry(id=11, at=AT, actor="alice", action="kick", target="bob", room="general"),
        ],
        has_more=True,
    )
    assert show(ReadAudit(), audit).lines == [
        "#12 2026-12-05 00:06:01 UTC console suspend mallory from local: spam",
        "#11 2026-12-05 00:06:01 UTC alice kick bob in #general",
        "more: --before 11",
    ]


def test_a_pong_says_the_server_answers() -> None:
    assert show(Ping(ref="x"), Pong(ref="x")).lines == ["the server answers"]
