"""The command line: options, environment, exit codes, line mode."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatapp.client import ConnectError
from chatapp.client.__main__ import ClientOptions, connect_failure, parse_args, run, setup_logging
from chatapp.protocol import ClientFrame, Error, Login, Send
from tests.client.fakeserver import PASSWORD, FakeConnection, FakeServer


@pytest.fixture
def server(server: FakeServer) -> FakeServer:
    """The scripted server, with the account alice."""
    server.accounts["alice"] = PASSWORD
    return server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_defaults() -> None:
    assert parse_args([], {}) == ClientOptions(host="127.0.0.1", port=7777)


def test_environment_and_flags() -> None:
    env = {"CHATAPP_HOST": "chat.example", "CHATAPP_PORT": "9000", "CHATAPP_USER": "alice"}
    assert parse_args([], env) == ClientOptions(host="chat.example", port=9000, user="alice")
    argv = ["--host", "h", "--port", "1234", "--user", "bob", "--password-stdin", "--register"]
    options = parse_args(argv, env)
    assert options == ClientOptions(host="h", port=1234, user="bob", password_stdin=True, register=True)
    assert parse_args(["--takeover"], env) == ClientOptions(host="chat.example", port=9000, user="alice",
                                                            takeover=True)


@pytest.mark.parametrize(
    ("argv", "env", "complaint"),
    [
        (["--password-stdin"], {}, "--password-stdin needs --user"),
        (["--register"], {}, "--register needs --user"),
        (["--port", "0"], {}, "between 1 and 65535"),
        ([], {"CHATAPP_PORT": "http"}, "CHATAPP_PORT='http' is not a port number"),
        (["--password", "x"], {}, "unrecognized arguments"),
        (["--user", "x", "--register", "--takeover"], {}, "--takeover is for logging in"),
        (["--room", "no spaces"], {}, "--room 'no spaces': "),
        (["--since-last", "--no-replay"], {}, "not allowed with argument"),
    ],
)
def test_usage_errors(argv: list[str], env: dict[str, str], complaint: str,
                      capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_args(argv, env)
    assert caught.value.code == 2
    assert complaint in capsys.readouterr().err


def test_line_mode_options() -> None:
    options = parse_args(["--room", "#bots", "--json", "--no-echo", "--no-replay"], {})
    assert (options.room, options.json, options.echo, options.replay) == ("bots", True, False, False)
    default = parse_args(["--since-last"], {})
    assert (default.room, default.json, default.echo, default.replay) == ("general", False, True, True)


def test_connect_failure_sentences() -> None:
    refused = connect_failure("127.0.0.1:9", ConnectError("connection refused"))
    assert refused == (
        "cannot connect to 127.0.0.1:9: connection refused (is the server running? see --host and --port)"
    )
    full = connect_failure("h:1", ConnectError("x", bye="too many connections from your address"))
    assert full == (
        "cannot connect to h:1: The server refused the connection: too many connections from your address."
    )


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_logging_goes_to_a_file_only(tmp_path: Path, root_logging: None) -> None:
    target = tmp_path / "state" / "client.log"
    assert setup_logging(target) == target
    logging.getLogger("chatapp.client.test").info("hello %s", "log")
    assert "hello log" in target.read_text()
    assert all(isinstance(h, logging.FileHandler) for h in logging.getLogger().handlers)


def test_unusable_log_file_is_not_fatal(tmp_path: Path, root_logging: None) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert setup_logging(blocker / "client.log") is None


async def run_piped(options: ClientOptions, stdin: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await run(options, stdin=io.StringIO(stdin), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


async def test_closed_port_exits_non_zero_with_one_line() -> None:
    code, out, err = await run_piped(ClientOptions(port=closed_port()), "")
    assert code == 1 and out == ""
    assert err.startswith("chatapp-client: cannot connect to 127.0.0.1:") and err.count("\n") == 1


async def test_line_mode_sends_and_prints(server: FakeServer) -> None:
    options = ClientOptions(port=server.port, user="alice", password_stdin=True)
    code, out, err = await run_piped(options, f"{PASSWORD}\nhello\n//slash\n/help\n")
    assert "<alice> hello" in out and "<alice> /slash" in out
    assert "without a terminal only messages, /say, /me TEXT, /join ROOM, /msg NAME TEXT, /plain NAME" in err
    # A line that could not be carried out is listed, and the exit status says so.
    assert code == 1 and err.endswith("chatapp-client: 1 line of the input was not sent:\n  /help\n")
    assert PASSWORD not in out + err


async def test_line_mode_register_and_refusal(server: FakeServer) -> None:
    register = ClientOptions(port=server.port, user="newbie", password_stdin=True, register=True)
    code, _, err = await run_piped(register, "another good password\n")
    assert code == 0, err
    assert server.accounts["newbie"] == "another good password"
    login = ClientOptions(port=server.port, user="alice", password_stdin=True)
    code, _, err = await run_piped(login, "nope\n")
    assert code == 1
    assert err == "chatapp-client: Wrong username or password.\n"


async def test_line_mode_needs_a_password(server: FakeServer) -> None:
    code, _, err = await run_piped(ClientOptions(port=server.port, user="alice"), "")
    assert code == 2 and "no terminal" in err
    code, _, err = await run_piped(ClientOptions(port=server.port, user="alice", password_stdin=True), "")
    assert code == 1 and "standard input is empty" in err


async def test_line_mode_messages_reach_the_server(server: FakeServer) -> None:
    options = ClientOptions(port=server.port, user="alice", password_stdin=True)
    code, out, _ = await run_piped(options, f"{PASSWORD}\none\ntwo\nexit\nnot sent\n")
    assert code == 0
    texts: list[str] = []
    while not server.frames.empty():
        _, frame = server.frames.get_nowait()
        if isinstance(frame, Send):
            texts.append(frame.text)
    assert texts == ["one", "two"]
    assert "not sent" not in out


async def test_line_mode_direct_messages(server: FakeServer) -> None:
    server.accounts["bob"] = PASSWORD
    options = ClientOptions(port=server.port, user="alice", password_stdin=True)
    code, out, err = await run_piped(options, f"{PASSWORD}\n/msg bob psst\n/msg nobody hello\n")
    assert "[@bob] <alice> psst" in out
    assert "Not sent: There is no user named nobody." in out
    assert code == 1, err  # one message could not be delivered


async def test_line_mode_takes_over_a_session_signed_in_elsewhere_only_with_takeover(
    server: FakeServer,
) -> None:
    def signed_in_elsewhere(conn: FakeConnection, frame: ClientFrame) -> bool:
        if isinstance(frame, Login) and not frame.takeover:
            conn.send(Error(code="already_logged_in", message="signed in elsewhere", ref=frame.ref))
            return True
        return False

    server.on_frame = signed_in_elsewhere
    options = ClientOptions(port=server.port, user="alice", password_stdin=True)
    code, _, err = await run_piped(options, f"{PASSWORD}\nhello\n")
    assert code == 1
    assert err == (
        "chatapp-client: This account is already signed in somewhere else; sign out there, "
        "or take that session over. (--takeover takes it over.)\n"
    )
    takeover = ClientOptions(port=server.port, user="alice", password_stdin=True, takeover=True)
    code, out, err = await run_piped(takeover, f"{PASSWORD}\nhello\n")
    assert code == 0, err
    assert "<alice> hello" in out
