"""Moderation on the real chat screen (prompt_toolkit pipe input, captured terminal) and in line mode,
against the scripted fake server: the frames sent, what is shown, the hidden password dialogue."""

from __future__ import annotations

import io
from datetime import UTC, datetime

from chatapp.client import ChatSession
from chatapp.client.__main__ import ClientOptions, run
from chatapp.protocol import (
    Bye,
    ByeReason,
    ClientFrame,
    Error,
    ErrorCode,
    Join,
    Joined,
    Login,
    Message,
    OnlineUser,
    Resume,
    Send,
    UserInfo,
    Who,
    Whois,
    WhoList,
)
from chatapp.protocol.moderation_frames import (
    Admin,
    AdminDone,
    ChangePassword,
    DeleteMessage,
    DeleteRoom,
    MessageRemoved,
    Moderate,
    PasswordChanged,
    RoomDeleted,
    RoomEvent,
)
from tests.client.fakeserver import PASSWORD, FakeConnection, FakeServer
from tests.client.harness import ENTER, TAB, Screen, until


def answering(server: FakeServer, answer: dict[type, object]) -> None:
    """Answer each frame of a listed type with ``answer[type](frame)`` (a frame or a list of them)."""

    def on_frame(conn: FakeConnection, frame: ClientFrame) -> bool:
        make = answer.get(type(frame))
        if make is None:
            return False
        made = make(frame)  # type: ignore[operator]
        for reply in made if isinstance(made, list) else [made]:
            conn.send(reply)
        return True

    server.on_frame = on_frame


async def test_kick_is_sent_and_the_room_event_shown(server: FakeServer, screen: Screen) -> None:
    answering(server, {Moderate: lambda f: RoomEvent(room=f.room, action=f.action, by="alice", user=f.user,
                                                      reason=f.reason, ref=f.ref)})
    screen.type("/kick bob flooding the room" + ENTER)
    sent = await server.next_frame(Moderate)
    assert sent == Moderate(room="general", action="kick", user="bob", reason="flooding the room",
                            ref=sent.ref)
    await screen.wait_drawn("bob was kicked from #general by you: flooding the room.")
    screen.type("/ban bob 5 spam" + ENTER)
    await screen.wait_line("'5' is not a duration: a duration is a number and a unit")
    assert screen.input_text == "/ban bob 5 spam"  # kept, to be fixed; nothing was sent


async def test_being_kicked_closes_the_room(server: FakeServer, screen: Screen) -> None:
    answering(server, {Join: lambda f: Joined(room=f.room, topic="", ref=f.ref)})
    screen.type("/join -create dev" + ENTER)
    await screen.wait_drawn("#dev>")
    server.broadcast(RoomEvent(room="dev", action="kick", by="carol", user="alice", reason="off topic"))
    await screen.wait_drawn("#general>")
    await screen.wait_drawn("You were kicked from #dev by carol: off topic. /join dev to go back.")
    assert screen.screen.state.targets.resolve("#dev") is None
    server.broadcast(RoomDeleted(room="general", by="carol"))
    await screen.wait_line("#general was deleted by carol, with its history.")


async def test_a_removed_message_is_replaced_on_screen(server: FakeServer, screen: Screen) -> None:
    spam = server.message("mallory", "buy cheap pills")
    server.broadcast(spam)
    await screen.wait_drawn("<mallory> buy cheap pills")
    server.broadcast(MessageRemoved(id=spam.id, by="carol", room="general"))
    await screen.wait_drawn("<mallory> (message removed by carol)")
    assert "buy cheap pills" not in screen.drawn()


async def test_delete_removes_ones_last_message(server: FakeServer, screen: Screen) -> None:
    answering(server, {
        DeleteMessage: lambda f: MessageRemoved(id=f.id, by="alice", room="general", ref=f.ref),
    })
    screen.type("oops, wrong room" + ENTER)
    await until(lambda: screen.screen.state.log.sources, what="the server's copy of the message")
    screen.type("/delete" + ENTER)
    sent = await server.next_frame(DeleteMessage)
    mine = [m for m in screen.screen.state.log.sources.values() if m.sender == "alice"]
    assert isinstance(sent, DeleteMessage) and sent.id == mine[-1].id
    await screen.wait_drawn("<alice> (message removed by alice)")


async def test_passwd_asks_hidden_and_keeps_nothing(server: FakeServer, screen: Screen) -> None:
    answering(server, {ChangePassword: lambda f: PasswordChanged(sessions_ended=1, ref=f.ref)})
    screen.type("/passwd" + ENTER)
    await screen.wait_drawn("current password (hidden; Enter alone cancels):")
    screen.type("old words here")
    await screen.wait_drawn("**************")
    assert "old words here" not in screen.drawn()
    screen.type(ENTER)
    await screen.wait_drawn("new password:")
    screen.type("brand new words" + ENTER)
    await screen.wait_drawn("new password again:")
    screen.type("brand new words" + ENTER)
    sent = await server.next_frame(ChangePassword)
    assert sent == ChangePassword(old="old words here", new="brand new words", ref=sent.ref)
    await screen.wait_line("Your password is changed; 1 other session was signed out.")
    await screen.wait_drawn("#general>")
    history = list(screen.screen.buffer.history.get_strings())
    assert history == ["/passwd"]
    assert not any("words" in line for line in screen.lines())
    terminal = screen.terminal.plain()
    assert "old words here" not in terminal and "brand new words" not in terminal


async def test_deleteroom_needs_the_name_typed(server: FakeServer, screen: Screen) -> None:
    answering(server, {
        DeleteRoom: lambda f: RoomDeleted(room=f.room, by="alice", reason=f.reason, ref=f.ref),
    })
    screen.type("/deleteroom" + ENTER)
    await screen.wait_drawn("delete #general? type its name to confirm:")
    screen.type("nope" + ENTER)
    await screen.wait_line("#general is not deleted.")
    screen.type("/deleteroom old stuff" + ENTER)
    await screen.wait_drawn("delete #general? type its name to confirm:")
    screen.type("general" + ENTER)
    sent = await server.next_frame(DeleteRoom)
    assert sent == DeleteRoom(room="general", reason="old stuff", ref=sent.ref)
    await screen.wait_line("#general was deleted by you: old stuff, with its history.")


async def test_a_reset_password_is_shown_once(server: FakeServer, screen: Screen) -> None:
    answering(server, {Admin: lambda f: AdminDone(action=f.action, user=f.user, password="plum-otter-91",
                                                  ref=f.ref)})
    screen.type("/resetpw bob" + ENTER)
    sent = await server.next_frame(Admin)
    assert sent == Admin(action="reset_password", user="bob", ref=sent.ref)
    await screen.wait_drawn("plum-otter-91")
    await screen.wait_drawn("it is shown only this once.")


async def test_forbidden_and_muted_are_sentences(server: FakeServer, screen: Screen) -> None:
    def refuse(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Moderate):
            refusal = "you are not an operator of #general"
            conn.send(Error(code=ErrorCode.FORBIDDEN, message=refusal, ref=frame.ref))
            return True
        if isinstance(frame, Send):
            conn.send(Error(code=ErrorCode.MUTED, message="muted", ref=frame.ref))
            return True
        return False

    server.on_frame = refuse
    screen.type("/op bob" + ENTER)
    await screen.wait_line("You may not do that in #general: you are not an operator of #general.")
    screen.type("let me talk" + ENTER)
    await screen.wait_line("Not sent ('let me talk'): You are muted in #general: you can read but not send.")
    assert "Traceback" not in screen.terminal.text


async def test_tab_completes_moderation_arguments(server: FakeServer, screen: Screen) -> None:
    users = [OnlineUser(username="alice"), OnlineUser(username="bobby", role="operator")]
    answering(server, {Who: lambda f: WhoList(room=f.room, users=users, ref=f.ref)})
    screen.type("/who" + ENTER)
    await screen.wait_line("Online in #general (2; @ = owner or operator): alice, @bobby")
    screen.type("/kick bo" + TAB)
    await screen.wait_input("/kick bobby ")
    screen.type("\x15/private o" + TAB)  # Ctrl-U clears the line
    await until(lambda: screen.screen.buffer.complete_state is not None, what="the completion menu")
    completions = [c.text for c in screen.screen.buffer.complete_state.completions]  # type: ignore[union-attr]
    assert completions == ["on ", "off "]
    screen.type("\x1b" + "\x15/promote bobby mo" + TAB)
    await screen.wait_input("/promote bobby moderator ")


async def test_suspension_ends_the_session_without_reconnecting(
    server: FakeServer, screen: Screen, session: ChatSession
) -> None:
    connections = len(server.connections)
    server.connections[0].send(Bye(reason=ByeReason.SUSPENDED, message="suspended by carol: spam"))
    server.connections[0].writer.close()
    await screen.wait_line(
        "Your account was suspended. Suspended by carol: spam."
    )
    await screen.wait_line("Not reconnecting.")
    assert len(server.connections) <= connections
    assert session.ended is not None and session.ended.bye_message == "suspended by carol: spam"


async def test_an_address_ban_on_reconnecting_ends_the_session(server: FakeServer, screen: Screen) -> None:
    server.refuse_with = Bye(reason=ByeReason.ADDRESS_BANNED, message="banned: abuse")
    for conn in list(server.connections):
        conn.writer.transport.abort()
    await screen.wait_line(
        "The server refuses connections from your address. Banned: abuse. "
        "Not reconnecting."
    )


async def run_piped(options: ClientOptions, stdin: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await run(options, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


async def test_line_mode_moderates_and_prints_the_answers(server: FakeServer) -> None:
    answering(server, {
        Moderate: lambda f: RoomEvent(room=f.room, action=f.action, by="alice", user=f.user, reason=f.reason,
                                      until="2026-11-27T08:30:00Z" if f.duration else None, ref=f.ref),
        Admin: lambda f: AdminDone(action=f.action, user=f.user, count=2, ref=f.ref),
        Whois: lambda f: UserInfo(username=f.username, online=True, member_since="2026-01-02T10:00:00Z",
                                  display_name="Alice L.", ref=f.ref),
    })
    server.accounts["alice"] = PASSWORD
    options = ClientOptions(port=server.port, user="alice", password_stdin=True)
    lines = ["/kick bob spam", "/mute #dev carol 1d loud", "/suspend bob", "/passwd", "/ban bob 9q",
             "/profile"]
    stdin = "\n".join([PASSWORD, *lines, ""])
    code, out, err = await run_piped(options, stdin)
    # The two lines it could not carry out are listed, and the exit status says so.
    assert code == 1 and err.endswith("2 lines of the input were not sent:\n  /passwd\n  /ban bob 9q\n")
    assert "bob was kicked from #general by you: spam" in out
    assert "carol is muted in #dev by you until" in out
    assert "bob is suspended until lifted (2 sessions ended)." in out
    assert "alice is online." in out and "Display name: Alice L." in out
    assert "without a terminal only messages" in err  # /passwd needs the screen
    assert "'q' is not a unit" in err
    frames = []
    while not server.frames.empty():
        frames.append(server.frames.get_nowait()[1])
    moderate = [f for f in frames if isinstance(f, Moderate)]
    assert [(f.room, f.action, f.user, f.duration) for f in moderate] == [
        ("general", "kick", "bob", None), ("dev", "mute", "carol", 86400)
    ]
    assert not any(isinstance(f, ChangePassword) for f in frames)


async def test_tombstones_in_replay_are_shown_removed(server: FakeServer, screen: Screen) -> None:
    server.broadcast(Message(id=server.next_id(), room="general", sender="bob", text="",
                             ts="2026-11-26T09:00:00Z", replayed=True, removed_by="carol"))
    await screen.wait_drawn("<bob> (message removed by carol)")


async def test_a_suspended_account_is_told_why_and_until_when_at_login(server: FakeServer) -> None:
    server.accounts["alice"] = PASSWORD

    def suspended(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Login):
            conn.send(Error(code=ErrorCode.SUSPENDED, message="spam, by carol", until="2031-01-02T03:04:00Z",
                            ref=frame.ref))
            return True
        return False

    server.on_frame = suspended
    options = ClientOptions(port=server.port, user="alice", password_stdin=True)
    code, _, err = await run_piped(options, f"{PASSWORD}\nhello\n")
    when = datetime(2031, 1, 2, 3, 4, tzinfo=UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    assert code == 1
    assert err == f"chatapp-client: This account is suspended until {when}: spam, by carol.\n"


async def test_a_resume_refused_as_suspended_is_not_retried(server: FakeServer, screen: Screen) -> None:
    resumes: list[Resume] = []

    def suspended(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Resume):
            resumes.append(frame)
            conn.send(Error(code=ErrorCode.SUSPENDED, message="spam", ref=frame.ref))
            return True
        return False

    server.on_frame = suspended
    for conn in list(server.connections):
        conn.writer.transport.abort()
    await screen.wait_line("This account is suspended until a moderator lifts it: spam. Not reconnecting.")
    assert len(resumes) == 1


async def test_the_title_shows_a_private_room_and_ones_role(server: FakeServer, screen: Screen) -> None:
    answering(server, {Join: lambda f: Joined(room=f.room, topic="code talk", private=True, role="owner",
                                              ref=f.ref)})
    screen.type("/join -create dev" + ENTER)
    await screen.wait_drawn("#dev (private, owner) — code talk")
    server.broadcast(RoomEvent(room="dev", action="public", by="alice"))
    await screen.wait_drawn("#dev (owner) — code talk")
