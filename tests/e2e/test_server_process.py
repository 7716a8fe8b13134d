"""The server as a user runs it: a subprocess, stopped by signals, killed, restarted, installed."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import sysconfig
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chatapp.protocol import Bye, Login, Message, Presence, Send
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

REPO = Path(__file__).resolve().parents[2]


def open_sessions(server: ServerProcess) -> list[tuple[Any, ...]]:
    return server.rows("SELECT end_reason, ended_at FROM sessions ORDER BY id")


async def test_sigterm_says_goodbye_ends_sessions_and_exits_zero(server: ServerProcess) -> None:
    alice = await WireClient.connect(server.host, server.port)
    bob = await WireClient.connect(server.host, server.port)
    await alice.register("alice")
    await bob.register("bob")
    await alice.expect(Presence)
    for n in range(3):
        await alice.send(Send(room="general", text=f"m{n}"))
        await alice.expect(Message, skip=(Presence,))
    started = time.monotonic()
    assert server.proc is not None
    server.proc.send_signal(signal.SIGTERM)
    for client in (alice, bob):
        frame = await client.recv()
        while not isinstance(frame, Bye):
            frame = await client.recv()
        assert frame.reason == "server shutting down"
        assert await client.closed()
    assert server.stop(timeout=10) == 0
    assert time.monotonic() - started < 5
    rows = open_sessions(server)
    assert [r[0] for r in rows] == ["shutdown", "shutdown"] and all(r[1] for r in rows)
    # The last word on group commit: every message went through the writer, in some batches.
    written = re.search(r"event=message_writer batches=(\d+) messages=(\d+) largest_batch=(\d+)", server.log)
    assert written is not None and 1 <= int(written[1]) <= 3 and int(written[2]) == 3
    await alice.close()
    await bob.close()


async def test_sigint_stops_cleanly_too(server: ServerProcess) -> None:
    assert server.stop(signal.SIGINT) == 0
    assert "Traceback" not in server.log


async def test_after_a_crash_sessions_are_freed_and_tokens_resume(server: ServerProcess) -> None:
    alice = await WireClient.connect(server.host, server.port)
    token = (await alice.register("alice")).token
    server.kill()
    await alice.close()
    assert open_sessions(server)[0][1] is None  # the crash left it open
    server.start()
    assert open_sessions(server)[0][0] == "server_restart"
    # Nobody is locked out: the password works, and so does the token.
    again = await WireClient.connect(server.host, server.port)
    assert (await again.resume(token)).username == "alice"
    await again.close()
    other = await WireClient.connect(server.host, server.port)
    await other.register("bob")
    await other.close()


async def test_restart_keeps_accounts(server: ServerProcess) -> None:
    alice = await WireClient.connect(server.host, server.port)
    await alice.register("alice")
    await alice.close()
    assert server.stop() == 0
    server.start()
    again = await WireClient.connect(server.host, server.port)
    assert (await again.login("ALICE")).username == "alice"
    await again.send(Send(room="general", text="back again"))
    await again.expect(Presence)
    assert (await again.expect(Message)).text == "back again"
    await again.close()


def test_activity_log_records_events_without_secrets(server: ServerProcess) -> None:
    import asyncio

    async def scenario() -> str:
        client = await WireClient.connect(server.host, server.port)
        token = (await client.register("logged_user")).token
        await client.send(Login(username="logged_user", password="wrong but long", ref=1))
        await client.expect(Presence)
        await client.expect_error("already_authenticated")
        other = await WireClient.connect(server.host, server.port)
        await other.send(Login(username="logged_user", password="wrong but long"))
        await other.expect_error("auth_failed")
        await other.close()
        await client.close()
        return token

    token = asyncio.run(scenario())
    server.wait_for_log(r"event=disconnect user=logged_user .*reason=disconnect")
    log = server.log
    for event in ("connect", "register", "login_failed", "disconnect"):
        assert f"event={event} " in log, event
    assert PASSWORD not in log and "wrong but long" not in log and token not in log


def test_no_migrate_refuses_an_out_of_date_database(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chatapp.server",
            "--no-migrate",
            "--port",
            "0",
            "--database-url",
            f"sqlite+aiosqlite:///{db}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "alembic upgrade head" in result.stderr
    assert "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error(server: ServerProcess, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "chatapp.server",
            "--port",
            str(server.port),
            "--database-url",
            f"sqlite+aiosqlite:///{tmp_path / 'other.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "cannot start" in result.stderr and "Traceback" not in result.stderr


async def test_a_second_server_on_a_busy_port_fails_before_touching_the_database(
    server: ServerProcess, server_factory: type[ServerProcess]
) -> None:
    alice = await WireClient.connect(server.host, server.port)
    token = (await alice.register("alice")).token
    # At the default log level (at debug a failed start also logs its traceback, for whoever asked).
    second = server_factory(server.database, "--log-level", "info")
    second.port = server.port  # a second `make run` while the first one serves
    with pytest.raises(RuntimeError, match="server exited with 1"):
        second.start()
    said = [line for line in second.log.splitlines() if line.startswith("chatapp-server:")]
    assert len(said) == 1 and "cannot start" in said[0] and "address already in use" in said[0].lower()
    assert "Traceback" not in second.log
    for event in ("database", "recovered_sessions", "shutdown", "listening"):
        assert f"event={event}" not in second.log
    # The first server's session is as it was: open, and its client goes on, then resumes.
    assert open_sessions(server.database) == [(None, None)]
    await alice.send(Send(room="general", text="still here", ref=1))
    assert (await alice.expect(Message, skip=(Presence,))).text == "still here"
    await alice.close()
    server.wait_for_log(r"event=disconnect user=alice")
    again = await WireClient.connect(server.host, server.port)
    assert (await again.resume(token)).username == "alice"
    await again.close()


def test_help_documents_every_setting() -> None:
    from chatapp.server.config import Config

    result = subprocess.run(
        [sys.executable, "-m", "chatapp.server", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    for name in Config.__dataclass_fields__:
        assert "--" + name.replace("_", "-") in result.stdout, name
        assert "CHATAPP_" + name.upper() in result.stdout, name


def test_bad_settings_are_usage_errors(tmp_path: Path) -> None:
    env = {**os.environ, "CHATAPP_PORT": "not-a-port"}
    result = subprocess.run(
        [sys.executable, "-m", "chatapp.server"], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 2 and "CHATAPP_PORT" in result.stderr and "Traceback" not in result.stderr
    result = subprocess.run(
        [sys.executable, "-m", "chatapp.server", "--duplicate-login", "maybe"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "invalid choice" in result.stderr


@pytest.mark.slow_install
def test_a_plain_pip_install_gives_a_working_server(tmp_path: Path) -> None:
    """Build the wheel, install it into a fresh venv and start the server from elsewhere: it serves
    the web client's files from the installed package."""
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    # Dependencies come from this test environment (no network needed); chatapp itself only from the wheel.
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next(wheels.glob("chatapp-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("chatapp/web/static/")}
    assert {f"chatapp/web/static/{name}" for name in ("index.html", "app.js", "app.css")} <= shipped
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [python, "-c", "import chatapp; print(chatapp.__file__)"],
        cwd=elsewhere,
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    assert where.startswith(site), where
    proc = subprocess.Popen(
        [
            venv / "bin" / "chatapp-server",
            "--port",
            "0",
            "--argon2-memory-kib",
            "8",
            "--database-url",
            f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}",
            "--web-port",
            "0",
        ],
        cwd=elsewhere,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if url := re.search(r"event=web url=(\S+)", line):
                break
        else:
            pytest.fail("server did not start")
        # The web client's files are served from the installed package.
        with urllib.request.urlopen(url[1], timeout=30) as page:
            assert page.status == 200 and b'<script src="app.js?v=' in page.read()
            assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
        with sqlite3.connect(tmp_path / "fresh.db") as db:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"users", "sessions", "alembic_version"} <= tables
        # chatapp-admin is installed too, and finds the server's control socket from the database.
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
        pinged = subprocess.run(
            [venv / "bin" / "chatapp-admin", "--database-url", database_url, "ping"],
            cwd=elsewhere,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert (pinged.returncode, pinged.stdout) == (0, "the server answers\n"), pinged.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
async def test_event_loop_choice_is_used_and_serves(tmp_path: Path, loop: str) -> None:
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    server = ServerProcess(tmp_path / "chat.db", "--event-loop", loop, "--argon2-memory-kib", "8").start()
    try:
        server.wait_for_log(rf"event=starting loop={loop}\b")
        alice = await WireClient.connect(server.host, server.port)
        await alice.register("alice")
        await alice.send(Send(room="general", text="on " + loop))
        assert (await alice.expect(Message, skip=(Presence,))).text == "on " + loop
        await alice.close()
        assert server.stop() == 0
    finally:
        server.close()


def test_demanding_a_missing_uvloop_is_a_clear_error(tmp_path: Path) -> None:
    # A Python with the package importable but uvloop hidden: a path entry that shadows it.
    shadow = tmp_path / "shadow"
    (shadow / "uvloop").mkdir(parents=True)
    (shadow / "uvloop" / "__init__.py").write_text("raise ImportError('hidden for this test')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-m", "chatapp.server", "--event-loop", "uvloop", "--port", "0",
         "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "uvloop is not installed" in proc.stderr and "Traceback" not in proc.stderr


def test_the_server_process_freezes_its_start_up_objects_for_the_garbage_collector() -> None:
    # In a child process: freezing would otherwise keep this test process's garbage forever.
    code = (
        "import gc\n"
        "from chatapp.server.app import _settle_garbage_collection\n"
        "before = gc.get_freeze_count()\n"
        "_settle_garbage_collection()\n"
        "print(before, gc.get_freeze_count() > 1000, gc.get_threshold()[0])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0", "True", "10000"]
