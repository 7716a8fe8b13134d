"""Moderation in the chat's state, in memory: the frames each command sends, and what each event shows."""

from __future__ import annotations

from datetime import UTC, datetime

from chatapp.client import LinkDown, SessionEnded
from chatapp.client.ui import dialogue
from chatapp.protocol import (
    ByeReason,
    DeleteMessage,
    Direct,
    Error,
    ErrorCode,
    History,
    HistoryPage,
    Join,
    Joined,
    Message,
    OnlineUser,
    Presence,
    RoomInfo,
    RoomList,
    SessionInfo,
    SessionList,
    UserInfo,
    Whois,
    WhoList,
)
from chatapp.protocol.moderation_frames import (
    AddressBanInfo,
    AddressBanList,
    Admin,
    AdminDone,
    AuditEntry,
    AuditPage,
    ChangePassword,
    DeleteRoom,
    ListAddressBans,
    ListSanctions,
    ListUsers,
    MessageRemoved,
    Moderate,
    PasswordChanged,
    ReadAudit,
    RoomDeleted,
    RoomEvent,
    RoomMode,
    SanctionInfo,
    SanctionList,
    SetProfile,
    UserList,
    UserSessions,
    UserSummary,
)
from tests.client.test_state import TS, Chat

LATER_TODAY = "2026-11-26T14:05:00.000Z"
TOMORROW = "2026-11-27T08:30:00.000Z"


def in_dev(chat: Chat, role: str | None = None) -> None:
    """alice has joined #dev (and is looking at it)."""
    chat.sent()
    chat.type("/join -create dev")
    [join] = chat.sent()
    assert isinstance(join, Join)
    chat.feed(Joined(room="dev", topic="", role=role, ref=join.ref))
    chat.sent()  # who and recent history, asked by the client itself


def test_room_commands_send_moderate_for_the_active_room_or_the_one_named() -> None:
    chat = Chat()
    in_dev(chat)
    assert not chat.type("/kick bob spam")
    [kick] = chat.sent()
    assert kick == Moderate(room="dev", action="kick", user="bob", reason="spam", ref=kick.ref)
    chat.type("/ban #general carol 2h flooding")
    [ban] = chat.sent()
    assert ban == Moderate(room="general", action="ban", user="carol", reason="flooding", duration=7200,
                           ref=ban.ref)
    chat.type("/private on")
    [mode] = chat.sent()
    assert mode == RoomMode(room="dev", private=True, ref=mode.ref)
    chat.type("/sanctions")
    [listing] = chat.sent()
    assert listing == ListSanctions(room="dev", ref=listing.ref)


def test_room_commands_in_a_conversation_need_a_room() -> None:
    chat = Chat()
    chat.type("/msg bob")
    chat.sent()
    assert chat.type("/kick carol")
    assert chat.sent() == []
    assert chat.shown()[-1] == "09:12 -!- @bob is a conversation, not a room: /kick #ROOM ... names one."
    assert not chat.type("/kick #general carol")
    [kick] = chat.sent()
    assert isinstance(kick, Moderate) and kick.room == "general"


def test_staff_commands_send_admin_and_the_lists() -> None:
    chat = Chat()
    expected = {
        "/suspend bob 1d spam": Admin(action="suspend", user="bob", reason="spam", duration=86400),
        "/smute bob": Admin(action="mute", user="bob"),
        "/disconnect bob 7": Admin(action="disconnect", user="bob", session=7),
        "/promote bob admin": Admin(action="promote", user="bob", role="admin"),
        "/resetpw bob": Admin(action="reset_password", user="bob"),
        "/banip 203.0.113.0/24 abuse": Admin(action="ban_address", address="203.0.113.0/24", reason="abuse"),
        "/unbanip 203.0.113.0/24": Admin(action="unban_address", address="203.0.113.0/24"),
        "/reloadfilters": Admin(action="reload_filters"),
        "/sessions bob": UserSessions(user="bob"),
        "/users ali": ListUsers(query="ali"),
        "/ipbans": ListAddressBans(),
        "/audit": ReadAudit(),
        "/profile name Alice L.": SetProfile(display_name="Alice L."),
        "/profile": Whois(username="alice"),
    }
    for line, frame in expected.items():
        assert not chat.type(line), line
        [sent] = chat.sent()
        assert sent == frame.__class__(**{**_fields(frame), "ref": sent.ref}), line  # type: ignore[attr-defined]


def _fields(frame: object) -> dict[str, object]:
    return {name: getattr(frame, name) for name in frame.__struct_fields__}  # type: ignore[attr-defined]


def test_users_and_audit_page_on_with_more() -> None:
    chat = Chat()
    chat.type("/users more")
    assert chat.sent() == []
    assert chat.shown()[-1].endswith("There is no next page: /users [QUERY] lists accounts from the start.")
    chat.type("/users a")
    [first] = chat.sent()
    users = [UserSummary(username="alice", role="admin", created=TS, online=True, display_name="Alice"),
             UserSummary(username="anna", role="user", created="2026-01-02T10:00:00Z",
                         suspended_until=TOMORROW)]
    chat.feed(UserList(users=users, has_more=True, ref=first.ref))
    assert chat.shown()[-3:] == [
        "09:12 -!- Accounts (2; /users more: the next page):",
        "        │   alice  admin  online   since 09:10             “Alice”",
        "        │   anna   user   offline  since 2026-01-02 10:00           "
        "suspended until 2026-11-27 08:30",
    ]
    chat.type("/users more")
    [second] = chat.sent()
    assert second == ListUsers(query="a", after="anna", ref=second.ref)
    chat.type("/audit")
    [audit] = chat.sent()
    events = [AuditEntry(id=41, at=TS, actor="alice", action="kick", target="bob", room="dev", reason="spam",
                         address="127.0.0.1"),
              AuditEntry(id=40, at=TS, actor="console", action="promote", target="alice")]
    chat.feed(AuditPage(events=events, has_more=True, ref=audit.ref))
    assert chat.shown()[-3:] == [
        "09:12 -!- Audit log, newest first (2; /audit more: older ones):",
        "        │   41  09:10  alice    kick     bob    #dev  127.0.0.1  spam",
        "        │   40  09:10  console  promote  alice",
    ]
    chat.type("/audit more")
    [older] = chat.sent()
    assert older == ReadAudit(before=40, ref=older.ref)


def test_someone_else_kicked_banned_muted_is_a_line_in_the_room() -> None:
    chat = Chat()
    in_dev(chat, role="operator")
    chat.feed(
        RoomEvent(room="dev", action="kick", by="alice", user="bob", reason="spam"),
        RoomEvent(room="dev", action="ban", by="carol", user="bob", reason="\x1b[2Jspam", until=LATER_TODAY),
        RoomEvent(room="dev", action="mute", by="carol", user="dave", until=TOMORROW),
        RoomEvent(room="dev", action="unban", by="carol", user="bob"),
        RoomEvent(room="dev", action="invite", by="carol", user="erin"),
        RoomEvent(room="dev", action="private", by="carol"),
    )
    assert chat.shown("#dev")[-6:] == [
        "09:12 -!- bob was kicked from #dev by you: spam.",
        "09:12 -!- bob is banned from #dev by carol until 14:05: ␛[2Jspam.",
        "09:12 -!- dave is muted in #dev by carol until 2026-11-27 08:30.",
        "09:12 -!- bob's ban from #dev was lifted by carol.",
        "09:12 -!- erin is invited to #dev (by carol).",
        "09:12 -!- #dev is now private: only invited users may join (by carol).",
    ]
    assert chat.target("#dev").private


def test_being_kicked_or_banned_closes_the_room_and_says_why() -> None:
    chat = Chat()
    in_dev(chat)
    chat.feed(RoomEvent(room="dev", action="kick", by="carol", user="alice", reason="off topic"))
    assert chat.state.targets.resolve("#dev") is None
    assert chat.state.active.label == "#general"
    assert chat.shown()[-1] == (
        "09:12 -!- You were kicked from #dev by carol: off topic. /join dev to go back."
    )
    in_dev(chat)
    chat.feed(RoomEvent(room="dev", action="ban", by="carol", user="alice", until=LATER_TODAY))
    assert chat.state.targets.resolve("#dev") is None
    assert chat.shown()[-1] == "09:12 -!- You are banned from #dev by carol until 14:05."
    chat.type("/join -create dev")
    [join] = chat.sent()
    chat.feed(Error(code=ErrorCode.BANNED, message="banned", until=LATER_TODAY, ref=join.ref))
    assert chat.shown()[-1] == "09:12 -!- You are banned from #dev until 14:05."


def test_the_last_room_stays_on_screen_when_one_is_banned_from_it() -> None:
    chat = Chat()
    chat.feed(RoomEvent(room="general", action="ban", by="carol", user="alice"))
    general = chat.target("#general")
    assert not general.member
    assert chat.shown()[-1] == "09:12 -!- You are banned from #general by carol."


def test_a_deleted_room_is_closed_for_its_members() -> None:
    chat = Chat()
    in_dev(chat)
    chat.state.known_rooms["dev"] = RoomInfo(name="dev", topic="", members=2, online=1, joined=True)
    chat.feed(RoomDeleted(room="dev", by="carol", reason="spam room"))
    assert chat.state.targets.resolve("#dev") is None and "dev" not in chat.state.known_rooms
    assert chat.shown()[-1] == "09:12 -!- #dev was deleted by carol: spam room, with its history."


def test_a_removed_message_is_shown_as_removed_live_in_history_and_in_conversations() -> None:
    chat = Chat()
    chat.feed(chat.message("bob", "buy cheap pills"), chat.message("carol", "hi"))
    removed_id = chat.ids - 1
    chat.feed(MessageRemoved(id=removed_id, by="carol", room="general"))
    assert chat.shown() == ["09:10 <bob> (message removed by carol)", "09:10 <carol> hi"]
    chat.feed(Direct(id=500, sender="bob", to="alice", text="secret", ts=TS))
    chat.feed(MessageRemoved(id=500, by="bob"))
    assert chat.shown("@bob") == ["09:10 <bob> (message removed by bob)"]
    chat.type("/history")
    [history] = chat.sent()
    assert isinstance(history, History)
    tombstone = Message(id=3, room="general", sender="dave", text="", ts=TS, removed_by="alice")
    chat.feed(HistoryPage(messages=[tombstone], has_more=True, room="general", ref=history.ref))
    assert chat.shown()[0] == "09:10 <dave> (message removed by alice)"


def test_delete_without_an_id_removes_ones_last_message_here() -> None:
    chat = Chat()
    assert chat.type("/delete")
    assert chat.shown()[-1] == "09:12 -!- You have no message shown in #general to remove."
    chat.feed(chat.message("alice", "first"), chat.message("alice", "oops"), chat.message("bob", "ha"))
    chat.type("/delete")
    [delete] = chat.sent()
    assert delete == DeleteMessage(id=chat.ids - 1, ref=delete.ref)
    chat.type("/delete bob")
    [theirs] = chat.sent()
    assert theirs == DeleteMessage(id=chat.ids, ref=theirs.ref)
    assert chat.type("/delete carol")
    assert chat.shown()[-1] == "09:12 -!- carol has no message shown in #general to remove."
    chat.type("/delete 5")
    [by_id] = chat.sent()
    assert by_id == DeleteMessage(id=5, ref=by_id.ref)
    chat.feed(Error(code=ErrorCode.NO_SUCH_MESSAGE, message="no", ref=by_id.ref))
    assert chat.shown()[-1].startswith("09:12 -!- There is no such message")


def test_roles_from_joined_who_and_events() -> None:
    chat = Chat()
    in_dev(chat, role="owner")
    dev = chat.target("#dev")
    assert dev.role == "owner"
    chat.type("/who")
    [who] = chat.sent()
    users = [OnlineUser(username="alice", role="owner"), OnlineUser(username="bob", role="operator"),
             OnlineUser(username="carol", away="tea")]
    chat.feed(WhoList(room="dev", users=users, ref=who.ref))
    assert chat.shown()[-1] == (
        "09:12 -!- Online in #dev (3; @ = owner or operator): @alice (owner), @bob, carol (away: tea)"
    )
    chat.feed(RoomEvent(room="dev", action="op", by="alice", user="carol"))
    assert dev.online["carol"].role == "operator" and dev.online["carol"].away == "tea"
    chat.feed(RoomEvent(room="dev", action="transfer", by="alice", user="bob"))
    assert dev.online["bob"].role == "owner" and dev.online["alice"].role == "operator"
    assert dev.role == "operator"  # the old owner stays an operator
    assert chat.shown("#dev")[-1] == "09:12 -!- bob now owns #dev (handed over by you)."


def test_private_rooms_are_marked_in_the_room_list() -> None:
    chat = Chat()
    chat.type("/rooms")
    [ask] = chat.sent()
    rooms = [RoomInfo(name="dev", topic="code", members=3, online=1, joined=True, private=True),
             RoomInfo(name="general", topic="", members=9, online=4, joined=True)]
    chat.feed(RoomList(rooms=rooms, ref=ask.ref))
    assert chat.shown()[-3:] == [
        "09:12 -!- Rooms (2; * = you are in it; (private) = invited users only):",
        "        │ * #dev      3 members, 1 online  (private)  code",
        "        │ * #general  9 members, 4 online",
    ]
    assert chat.target("#dev").private


def test_refusals_of_moderation_say_what_and_until_when() -> None:
    chat = Chat()
    chat.type("hello")
    [send] = chat.sent()
    chat.feed(Error(code=ErrorCode.MUTED, message="muted", until=LATER_TODAY, ref=send.ref))
    assert chat.shown()[-1] == (
        "09:12 -!- Not sent ('hello'): You are muted in #general until 14:05: you can read but not send."
    )
    chat.type("/join -create secret")
    [join] = chat.sent()
    chat.feed(Error(code=ErrorCode.INVITE_ONLY, message="invite only", ref=join.ref))
    assert chat.shown()[-1] == (
        "09:12 -!- #secret is private: only invited users may join; ask its owner or an operator for /invite."
    )
    chat.type("/kick bob")
    [kick] = chat.sent()
    chat.feed(Error(code=ErrorCode.FORBIDDEN, message="only operators of #general can kick", ref=kick.ref))
    assert chat.shown()[-1] == (
        "09:12 -!- You may not do that in #general: only operators of #general can kick."
    )
    chat.type("hello")
    [filtered] = chat.sent()
    chat.feed(Error(code=ErrorCode.FILTERED, message="that word is not allowed here", ref=filtered.ref))
    assert chat.shown()[-1].endswith(
        "The server's filter does not allow that text (that word is not allowed here)."
    )
    chat.type("/banip 10.0.0.1")
    [ban] = chat.sent()
    chat.feed(Error(code=ErrorCode.INVALID_ADDRESS, message="bad", ref=ban.ref))
    assert chat.shown()[-1] == "09:12 -!- That is not an IPv4 or IPv6 address or CIDR range: bad."


def test_lists_are_aligned_lines() -> None:
    chat = Chat()
    chat.type("/sanctions")
    [ask] = chat.sent()
    sanctions = [SanctionInfo(user="bob", kind="ban", since=TS, by="carol", reason="spam", until=TOMORROW),
                 SanctionInfo(user="dave_the_loud", kind="mute", since=TS)]
    chat.feed(SanctionList(room="general", sanctions=sanctions, ref=ask.ref))
    assert chat.shown()[-3:] == [
        "09:12 -!- Bans and mutes in #general (2):",
        "        │   ban   bob            by carol  since 09:10  until 2026-11-27 08:30  spam",
        "        │   mute  dave_the_loud            since 09:10  until lifted",
    ]
    chat.type("/ipbans")
    [ask] = chat.sent()
    bans = [AddressBanInfo(address="203.0.113.0/24", since=TS, by="alice", reason="abuse")]
    chat.feed(AddressBanList(bans=bans, ref=ask.ref))
    assert chat.shown()[-2:] == [
        "09:12 -!- Address bans (1; /unbanip ADDRESS lifts one):",
        "        │   203.0.113.0/24  by alice  since 09:10  until lifted  abuse",
    ]
    chat.type("/sessions bob")
    [ask] = chat.sent()
    sessions = [SessionInfo(id=3, address="198.51.100.7:5000", created=TS, last_seen=TS, connected=True)]
    chat.feed(SessionList(sessions=sessions, user="bob", ref=ask.ref))
    assert chat.shown()[-2:] == [
        "09:12 -!- Sessions of bob (1; /disconnect bob ID closes one):",
        "        │   3  198.51.100.7:5000, signed in today at 09:10; connected",
    ]


def test_staff_answers_and_a_reset_password_shown_once() -> None:
    chat = Chat()
    answers = [
        ("/suspend bob 1d spam", AdminDone(action="suspend", user="bob", until=TOMORROW, count=2),
         "bob is suspended until 2026-11-27 08:30 (2 sessions ended)."),
        ("/promote bob moderator", AdminDone(action="promote", user="bob"), "bob is now a moderator."),
        ("/promote bob user", AdminDone(action="promote", user="bob"), "bob is an ordinary user now."),
        ("/banip 203.0.113.9", AdminDone(action="ban_address", address="203.0.113.9", count=1),
         "203.0.113.9 is banned until lifted (1 connection ended)."),
        ("/reloadfilters", AdminDone(action="reload_filters", count=3),
         "The server read its filter file again: 3 rules."),
        ("/unsuspend bob", AdminDone(action="unsuspend", user="bob", count=1), "bob may sign in again."),
        ("/unsuspend bob", AdminDone(action="unsuspend", user="bob", count=0), "bob was not suspended."),
        ("/sunmute bob", AdminDone(action="unmute", user="bob", count=0), "bob was not muted server-wide."),
        ("/unbanip 10.1.2.3", AdminDone(action="unban_address", address="10.1.2.3/32", count=0),
         "10.1.2.3/32 was not banned."),
        ("/disconnect bob", AdminDone(action="disconnect", user="bob", count=2),
         "Disconnected bob (2 connections ended)."),
    ]
    for line, answer, text in answers:
        chat.type(line)
        [ask] = chat.sent()
        chat.feed(AdminDone(**{**{k: getattr(answer, k) for k in answer.__struct_fields__}, "ref": ask.ref}))
        assert chat.shown()[-1] == f"09:12 -!- {text}", line
    chat.type("/resetpw bob")
    [ask] = chat.sent()
    chat.feed(AdminDone(action="reset_password", user="bob", password="plum-otter-91", count=2, ref=ask.ref))
    assert chat.shown()[-2:] == [
        "09:12 -!- bob's password is reset (2 sessions ended). New password: plum-otter-91",
        "        │ Give it to them privately: it is shown only this once.",
    ]


def test_profile_set_and_shown() -> None:
    chat = Chat()
    chat.type("/profile bio I like tea")
    [profile] = chat.sent()
    assert profile == SetProfile(bio="I like tea", ref=profile.ref)
    chat.feed(UserInfo(username="alice", online=True, member_since=TS, display_name="Alice \u202eL.",
                       bio="I like tea\nand \x1b[31mcake", role="admin", ref=profile.ref))
    assert chat.shown()[-7:] == [  # one's own profile: no "rooms in common"
        "09:12 -!- Your profile is saved.",
        "        │ alice is online.",
        "        │ Display name: Alice L.",
        "        │ Server role: admin.",
        "        │ Bio: I like tea",
        "        │ and ␛[31mcake",
        "        │ Member since 2026-11-26.",
    ]


def test_the_password_dialogue_sends_passwd_only_when_both_new_ones_agree() -> None:
    chat = Chat()
    chat.type("/passwd")
    state = chat.state
    assert state.dialogue is not None and state.dialogue.secret
    for answer in ("old secret words", "new secret words", "new secret wordz"):
        dialogue.answer(state, answer)
    assert state.dialogue is None and chat.sent() == []
    assert chat.shown()[-1] == (
        "09:12 -!- The two new passwords differ; nothing was changed. /passwd to try again."
    )
    chat.type("/passwd")
    dialogue.answer(state, "old secret words")
    dialogue.answer(state, "short")
    assert state.dialogue is None and chat.sent() == []
    assert "That password is not accepted: passwords are 8 to 1024" in chat.shown()[-1]
    chat.type("/passwd")
    dialogue.answer(state, "")
    assert state.dialogue is None and chat.shown()[-1] == "09:12 -!- Password not changed."
    chat.type("/passwd")
    for answer in ("old secret words", "new secret words", "new secret words"):
        dialogue.answer(state, answer)
    [change] = chat.sent()
    assert change == ChangePassword(old="old secret words", new="new secret words", ref=change.ref)
    assert "secret" not in repr(change)
    assert "secret" not in repr(half_answered_password_dialogue(chat))
    chat.feed(PasswordChanged(sessions_ended=2, ref=change.ref))
    assert chat.shown()[-1] == "09:12 -!- Your password is changed; 2 other sessions were signed out."
    assert not any("secret words" in line for line in chat.shown())


def half_answered_password_dialogue(chat: Chat) -> object:
    """A password dialogue half answered, to look at its repr."""
    chat.type("/passwd")
    dialogue.answer(chat.state, "old secret words")
    dialogue.answer(chat.state, "new secret words")
    probe = chat.state.dialogue
    dialogue.answer(chat.state, "")
    return probe


def test_a_wrong_current_password_is_said_so() -> None:
    chat = Chat()
    chat.type("/passwd")
    for answer in ("wrong old words", "new secret words", "new secret words"):
        dialogue.answer(chat.state, answer)
    [change] = chat.sent()
    chat.feed(Error(code=ErrorCode.AUTH_FAILED, message="wrong password", ref=change.ref))
    assert chat.shown()[-1] == (
        "09:12 -!- The current password is not right; your password is unchanged. /passwd to try again."
    )


def test_deleting_a_room_needs_its_name_typed() -> None:
    chat = Chat()
    in_dev(chat, role="owner")
    chat.type("/deleteroom done with it")
    assert chat.state.dialogue is not None and not chat.state.dialogue.secret
    assert chat.state.dialogue.prompt == "delete #dev? type its name to confirm: "
    dialogue.answer(chat.state, "general")
    assert chat.sent() == [] and chat.shown()[-1] == "09:12 -!- #dev is not deleted."
    chat.type("/deleteroom done with it")
    dialogue.answer(chat.state, "#dev")
    [delete] = chat.sent()
    assert delete == DeleteRoom(room="dev", reason="done with it", ref=delete.ref)


def test_a_lost_link_drops_an_open_question() -> None:
    chat = Chat()
    chat.type("/passwd")
    chat.state.handle(LinkDown(bye=None, error="reset", reconnect=True))
    assert chat.state.dialogue is None


def test_suspension_and_moderator_goodbyes_are_explained() -> None:
    chat = Chat()
    chat.state.handle(LinkDown(bye=ByeReason.SUSPENDED, error=None, reconnect=False,
                               bye_message="suspended by carol until 2026-11-27 08:30: spam\x1b[2J"))
    assert chat.shown()[-1] == (
        "09:12 -!- Your account was suspended. Suspended by carol until "
        "2026-11-27 08:30: spam␛[2J."
    )
    chat.state.handle(SessionEnded(bye=ByeReason.DISCONNECTED))
    assert chat.shown()[-1] == (
        "09:12 -!- A moderator disconnected this session. Not reconnecting. "
        "Press Ctrl-D or type /quit to leave."
    )
    suspended = Error(code=ErrorCode.SUSPENDED, message="spam", until=TOMORROW)
    chat.state.handle(SessionEnded(error=suspended))
    assert "This account is suspended until 2026-11-27 08:30: spam." in chat.shown()[-1]
    said = "suspended by alice until 2031-01-02T03:04:00.000Z: spam"
    local = datetime(2031, 1, 2, 3, 4, tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    chat.state.handle(LinkDown(bye=ByeReason.SUSPENDED, error=None, reconnect=False, bye_message=said))
    assert chat.shown()[-1] == (
        f"09:12 -!- Your account was suspended. Suspended by alice until {local}: spam."
    )


def test_disconnecting_a_session_that_is_not_there() -> None:
    chat = Chat()
    chat.type("/disconnect bob 99")
    [ask] = chat.sent()
    chat.feed(Error(code=ErrorCode.NO_SUCH_SESSION, message="no", ref=ask.ref))
    assert chat.shown()[-1] == (
        "09:12 -!- bob has no such session (or it is already over); /sessions bob lists them."
    )


def test_a_late_leave_after_a_kick_does_not_reopen_the_room() -> None:
    chat = Chat()
    in_dev(chat)
    chat.feed(RoomEvent(room="dev", action="kick", by="carol", user="alice"),
              Presence(event="leave", room="dev", username="alice"),
              Presence(event="leave", room="dev", username="bob"))
    assert chat.state.targets.resolve("#dev") is None
    chat.feed(Presence(event="join", room="dev", username="alice"))  # back in: the room opens again
    assert chat.target("#dev").member
