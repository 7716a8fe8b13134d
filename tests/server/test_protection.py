"""Limits and timeouts: bad input gets an error and the session goes on, until a limit closes it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chatapp.protocol import Bye, Login, Ping, Pong, Presence
from chatapp.server.app import ChatServer
from tests.server.conftest import Dial, ServerFactory
from tests.support.wire import PASSWORD, WireClient

Connect = Callable[..., Awaitable[WireClient]]


async def test_oversized_frame_is_refused_and_the_connection_goes_on(connect: Connect) -> None:
    client = await connect()
    await client.send_raw(b'{"type":"ping","pad":"' + b"x" * (70 * 1024) + b'"}\n')
    await client.expect_error("frame_too_large")
    await client.send(Ping(ref=9))
    assert (await client.expect(Pong)).ref == 9


async def test_garbage_gets_bad_frame_and_the_connection_goes_on(connect: Connect) -> None:
    client = await connect()
    for raw in (
        b"not json\n",
        b"\xff\xfe\xfd\n",
        b"[1,2]\n",
        b'{"type":"login"}\n',
        b'{"type":"x","ref":4}\n',
    ):
        await client.send_raw(raw)
        error = await client.recv()
        assert getattr(error, "code", None) in ("bad_frame", "unknown_type"), (raw, error)
    await client.send_raw(b'{"type":"teleport","ref":4}\n')
    error = await client.expect_error("unknown_type")
    assert error.ref == 4
    await client.register("still_fine")


async def test_a_run_of_invalid_frames_closes_the_connection(connect: Connect) -> None:
    client = await connect()
    await client.send_raw(b"garbage\n" * 12)
    for _ in range(10):
        await client.expect_error("bad_frame")
    assert (await client.expect(Bye)).reason == "too many invalid frames"
    assert await client.closed()


async def test_frames_before_authentication_are_bounded(connect: Connect) -> None:
    client = await connect()
    for i in range(25):
        await client.send(Ping(ref=i))
    pongs = 0
    while True:
        frame = await client.recv()
        if isinstance(frame, Bye):
            assert frame.reason == "too many frames before authentication"
            break
        assert isinstance(frame, Pong)
        pongs += 1
    assert pongs == 20


async def test_unauthenticated_connection_times_out(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server(auth_timeout=0.3)
    client = await dial(server)
    assert (await client.expect(Bye, timeout=5)).reason == "authentication timeout"
    assert await client.closed()


async def test_keepalive_pings_idle_clients_and_drops_silent_ones(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server(ping_interval=0.2, ping_timeout=0.3)
    client = await dial(server)
    await client.register("quiet")
    await client.expect(Presence)
    ping = await client.expect(Ping, timeout=5)
    await client.send(Pong(ref=ping.ref))  # answering keeps it alive
    ping = await client.expect(Ping, timeout=5)
    # Now stay silent: the server gives up within interval + timeout.
    assert (await client.expect(Bye, timeout=5)).reason == "idle timeout"
    await client.close()


async def test_connections_per_address_are_limited(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server(max_connections_per_address=3)
    clients = [await dial(server) for _ in range(3)]
    refused = await dial(server, greet=False)
    assert (await refused.expect(Bye)).reason == "too many connections from your address"
    # Another address is a separate budget.
    other = await dial(server, local_addr="127.0.0.2")
    assert other.welcome is not None
    for client in [*clients, refused, other]:
        await client.close()


async def test_failed_logins_are_throttled_per_account(connect: Connect) -> None:
    owner = await connect()
    await owner.register("target")
    await owner.close()
    attacker = await connect()
    codes = []
    for i in range(8):
        await attacker.send(Login(username="target", password=f"guess {i} guess", ref=i))
        codes.append(await attacker.recv())
    kinds = [getattr(f, "code", None) for f in codes]
    assert kinds[:5] == ["auth_failed"] * 5
    assert kinds[5:] == ["rate_limited"] * 3  # the fifth failure is what starts the delay
    assert codes[5].retry_after >= 1  # type: ignore[union-attr]
    # The same delay applies from another address with failures of its own: the account is what
    # is protected. (From a clean address the owner still gets in: test_login_throttling.)
    elsewhere = await connect(local_addr="127.0.0.3")
    await elsewhere.send(Login(username="someone", password="not the password"))
    await elsewhere.expect_error("auth_failed")
    await elsewhere.send(Login(username="target", password=PASSWORD))
    await elsewhere.expect_error("rate_limited")


async def test_failed_logins_are_throttled_per_address(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server(login_failures_per_address=3, login_failures_per_account=100)
    client = await dial(server, local_addr="127.0.0.4")
    for i in range(3):
        await client.send(Login(username=f"user{i}", password=PASSWORD))
        await client.expect_error("auth_failed")
    await client.send(Login(username="user9", password=PASSWORD))
    await client.expect_error("rate_limited")
    # A different address is not affected.
    other = await dial(server, local_addr="127.0.0.5")
    await other.send(Login(username="user9", password=PASSWORD))
    await other.expect_error("auth_failed")
    await client.close()
    await other.close()


async def test_registrations_per_address_are_limited(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server(registrations_per_address=2)
    for name in ("reg_one", "reg_two"):
        client = await dial(server, local_addr="127.0.0.6")
        await client.register(name)
        await client.close()
    client = await dial(server, local_addr="127.0.0.6")
    await client.send(Login(username="x", password="y" * 8))
    await client.expect_error("auth_failed")
    from chatapp.protocol import Register

    await client.send(Register(username="reg_three", password=PASSWORD))
    error = await client.expect_error("rate_limited")
    assert error.retry_after and error.retry_after > 3000
    await client.close()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(min_size=1, max_size=300))
async def test_random_bytes_never_break_the_server(chat: ChatServer, dial: Dial, junk: bytes) -> None:
    client = await WireClient.connect("127.0.0.1", chat.port)
    try:
        await client.send_raw(junk + b"\n")
        await client.send(Ping(ref="after"))
        while True:
            frame = await client.recv()
            if isinstance(frame, Pong) and frame.ref == "after":
                break
    finally:
        await client.close()


async def test_logins_being_hashed_do_not_hold_up_other_clients(
    start_server: ServerFactory, dial: Dial
) -> None:
    """Hashing runs off the event loop: a ping sent after six costly logins is answered before them."""
    server = await start_server(argon2_memory_kib=32 * 1024, argon2_time_cost=3, hash_workers=1)
    clients = [await dial(server, local_addr=f"127.0.1.{i}") for i in range(6)]
    observer = await dial(server)
    for n, client in enumerate(clients):
        # Six accounts: six attempts at one account would be five (its free attempts run at once).
        await client.send(Login(username=f"nobody{n}", password=PASSWORD))
    await asyncio.sleep(0)  # the logins are on their way first
    await observer.send(Ping(ref="now"))
    pong = asyncio.create_task(observer.expect(Pong, timeout=30))
    answered_logins = 0
    for client in clients:
        await client.expect_error("auth_failed", timeout=30)
        if not pong.done():
            answered_logins += 1
    assert (await pong).ref == "now"
    # With one hashing thread the six answers take six hash-times; the pong needed none of them.
    assert answered_logins < len(clients)
    for client in [*clients, observer]:
        await client.close()
