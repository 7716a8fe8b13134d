"""Address bans on a running server: connections from a banned address or range are closed at once,
new ones refused at accept time with a lone ``bye``; the list, lifting, bad addresses."""

from __future__ import annotations

from chatapp.protocol import Bye, Message, Send, Welcome
from chatapp.protocol.moderation_frames import AddressBanList, AdminDone, ListAddressBans
from tests.server.conftest import Dial, ServerFactory
from tests.server.test_administration import NOISE, admin, member, refused
from tests.support.wire import WireClient


async def refused_at_accept(client: WireClient) -> Bye:
    """The first and only frame is a ``bye`` (no ``welcome``), then the connection is closed."""
    first = await client.recv(timeout=5)
    assert isinstance(first, Bye), first
    assert await client.closed()
    return first


async def test_a_ban_closes_the_ranges_connections_and_refuses_new_ones(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server()
    mod = await member(server, dial, "mod", "moderator", address="127.0.0.2")
    mallory = await member(server, dial, "mallory", address="127.0.0.77")
    lurker = await dial(server, local_addr="127.0.0.77")  # greeted, not signed in
    carol = await member(server, dial, "carol", address="127.0.0.78")

    done = await admin(mod, action="ban_address", address="127.0.0.77", reason="abuse")
    assert isinstance(done, AdminDone)
    assert (done.address, done.count, done.until) == ("127.0.0.77/32", 2, None)
    for client in (mallory, lurker):
        bye = await client.expect(Bye, timeout=1.0, skip=NOISE)
        assert (bye.reason, bye.message) == ("address banned", "this address is banned: abuse")
        assert await client.closed()

    newcomer = await dial(server, local_addr="127.0.0.77", greet=False)
    bye = await refused_at_accept(newcomer)
    assert (bye.reason, bye.message) == ("address banned", "this address is banned: abuse")
    # Others go on.
    await carol.send(Send(room="general", text="still here", ref="c"))
    assert (await carol.expect(Message, skip=NOISE)).text == "still here"

    # A range, given with host bits: stored as the network, with its end.
    ranged = await admin(mod, action="ban_address", address="127.0.1.9/24", duration=600)
    assert isinstance(ranged, AdminDone) and ranged.address == "127.0.1.0/24" and ranged.until
    await refused_at_accept(await dial(server, local_addr="127.0.1.200", greet=False))
    outside = await dial(server, local_addr="127.0.2.1", greet=False)
    assert isinstance(await outside.recv(), Welcome)

    await mod.send(ListAddressBans(ref="l"))
    listed = await mod.expect(AddressBanList, skip=NOISE)
    assert [(b.address, b.by, b.reason, b.until is not None) for b in listed.bans] == [
        ("127.0.1.0/24", "mod", None, True),
        ("127.0.0.77/32", "mod", "abuse", False),
    ]

    lifted = await admin(mod, action="unban_address", address="127.0.0.77")
    assert isinstance(lifted, AdminDone) and lifted.count == 1
    back = await dial(server, local_addr="127.0.0.77", greet=False)
    assert isinstance(await back.recv(), Welcome)
    again = await admin(mod, action="unban_address", address="127.0.0.77")
    assert isinstance(again, AdminDone) and again.count == 0


async def test_what_is_not_an_address_is_refused(start_server: ServerFactory, dial: Dial) -> None:
    server = await start_server()
    mod = await member(server, dial, "mod", "moderator")
    user = await member(server, dial, "user")
    for bad in ("example.com", "127.0.0.300", "10.0.0.0/33", "", "1" * 65):
        await refused(mod, "invalid_address", action="ban_address", address=bad)
    await refused(mod, "bad_frame", action="ban_address")  # no address
    await refused(mod, "text_too_long", action="ban_address", address="10.0.0.1", reason="x" * 301)
    await refused(user, "forbidden", action="ban_address", address="10.0.0.1")
    await user.send(ListAddressBans(ref="l"))
    await user.expect_error("forbidden", skip=NOISE)
    # An admin's own address is not protected: a ban covers whoever connects from it (documented).
    done = await admin(mod, action="ban_address", address="::ffff:10.1.2.3")
    assert isinstance(done, AdminDone) and done.address == "10.1.2.3/32"
