"""``--workers 2``: two supervised server processes on one port (SO_REUSEPORT), one PostgreSQL
database and one Redis server. A worker killed with SIGKILL is restarted (and logged); SIGTERM
stops them all cleanly; a supervisor killed with SIGKILL leaves no worker behind. Without Redis,
more than one worker is refused with a sentence."""

from __future__ import annotations

import asyncio
import os
import re
import signal

import pytest

from chatapp.protocol import Message, Send
from tests.support.databases import ScratchDatabase
from tests.support.redis import RedisServer
from tests.support.server import ServerProcess
from tests.support.wire import WireClient

pytest.importorskip("redis")

LISTENING = r"event=listening host=\S+ port=(\d+) tls=off"


def wait_for_count(server: ServerProcess, pattern: str, count: int, timeout: float = 30.0) -> list[str]:
    """Wait until ``pattern`` matched ``count`` log lines; their first groups (or whole matches)."""
    server.wait_for_log("(?s)" + ".*".join([f"(?:{pattern})"] * count), timeout)
    return [m.group(1) if m.groups() else m.group(0) for m in re.finditer(pattern, server.log)]


async def chat(server: ServerProcess, sender: str, reader: str, text: str) -> None:
    """``sender`` and ``reader`` register, on whichever worker the kernel picks; ``sender`` says
    ``text`` and ``reader`` gets it."""
    clients = []
    for name in (sender, reader):
        client = await WireClient.connect(server.host, server.port)
        await client.register(name)
        clients.append(client)
    await clients[0].send(Send(room="general", text=text, nonce="n"))
    while True:
        frame = await clients[1].recv(15)
        if isinstance(frame, Message) and frame.text == text:
            break
    for client in clients:
        await client.close()


async def test_two_workers_serve_one_port_and_a_killed_worker_is_restarted(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    server = server_factory(postgres_database, "--workers", "2", "--redis-url", redis_server.url).start()
    ports = wait_for_count(server, LISTENING, 2)
    assert len(set(ports)) == 1 and int(ports[0]) == server.port, "both workers listen on one port"
    await chat(server, "alice", "bob", "hello")

    first = int(dict(re.findall(r"event=worker_started number=(\d) pid=(\d+)", server.log))["1"])
    os.kill(first, signal.SIGKILL)
    server.wait_for_log(rf"event=worker_died number=1 pid={first} status=-9")
    restarted = wait_for_count(server, r"event=worker_started number=1 pid=(\d+)", 2)
    assert int(restarted[1]) != first
    assert wait_for_count(server, LISTENING, 3)[2] == ports[0], "the new worker shares the port"
    # New users: alice or bob, had the kill come before their worker saw them leave, would be taken
    # for online on the dead worker until its presence expires (test_shared_presence.py).
    await chat(server, "carol", "dave", "still here")

    assert server.stop() == 0
    stopped = re.findall(r"event=worker_stopped number=(\d) pid=\d+ status=(-?\d+)", server.log)
    assert sorted(stopped) == [("1", "0"), ("2", "0")]
    assert server.log.count("event=worker_died") == 1, "a worker stopped on purpose is not restarted"


def test_more_than_one_worker_without_redis_is_refused(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase
) -> None:
    server = server_factory(postgres_database, "--workers", "2")
    assert server.start_expecting_failure() == 2
    assert "--workers more than 1 needs --redis-url and a PostgreSQL database" in server.log


def gone(pid: int) -> bool:
    """The process exited (a zombie of a dead parent counts: init reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


async def test_workers_stop_when_the_supervisor_is_killed(
    server_factory: type[ServerProcess], postgres_database: ScratchDatabase, redis_server: RedisServer
) -> None:
    server = server_factory(postgres_database, "--workers", "2", "--redis-url", redis_server.url).start()
    wait_for_count(server, LISTENING, 2)
    pids = [int(pid) for pid in re.findall(r"event=worker_started number=\d pid=(\d+)", server.log)]
    server.kill()  # SIGKILL: the supervisor cannot stop them; the kernel tells them

    async def all_gone() -> None:
        while not all(gone(pid) for pid in pids):
            await asyncio.sleep(0.05)

    await asyncio.wait_for(all_gone(), 15)
