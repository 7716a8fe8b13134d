"""Guessing at an account slows the guesser down, never locks its owner out for good."""

from __future__ import annotations

import asyncio

from chatapp.protocol import Error, Login
from tests.server.conftest import Dial, ServerFactory
from tests.support.wire import PASSWORD


async def test_an_account_under_attack_still_lets_its_owner_in_from_a_clean_address(
    start_server: ServerFactory, dial: Dial
) -> None:
    server = await start_server(
        login_failures_per_account=3, login_failures_per_address=100, login_delay_max=600.0
    )
    owner = await dial(server, local_addr="127.0.0.2")
    await owner.register("besieged")
    await owner.close()
    attacker = await dial(server, local_addr="127.0.0.3")
    codes = []
    while "rate_limited" not in codes:  # until the account is blocked
        await attacker.send(Login(username="besieged", password=f"guess number {len(codes)}"))
        codes.append((await attacker.expect(Error)).code)
    assert codes == ["auth_failed"] * 3 + ["rate_limited"]
    # A wrong password from a clean address is still checked, and counts there too: that
    # address is not clean any more, so even the right password waits there now.
    other = await dial(server, local_addr="127.0.0.4")
    await other.send(Login(username="besieged", password="one more guess"))
    await other.expect_error("auth_failed")
    await other.send(Login(username="besieged", password=PASSWORD))
    await other.expect_error("rate_limited")
    # The owner, from an address with no failures, gets in despite the block ...
    home = await dial(server, local_addr="127.0.0.5")
    assert (await home.login("besieged")).username == "besieged"
    # ... and that success forgives the account's failures.
    await home.close()
    again = await dial(server, local_addr="127.0.0.3")
    await again.send(Login(username="besieged", password="wrong once more"))
    await again.expect_error("auth_failed")


async def test_a_trickle_of_failures_decays_and_never_locks_the_owner_out(
    start_server: ServerFactory, dial: Dial
) -> None:
    """The bug: a few wrong guesses an hour, forever, kept the account blocked for good.

    Here one failure is forgiven every 0.3 s and a guess comes every 0.5 s: slower
    than the decay, the failures never add up to the three that start a delay.
    """
    server = await start_server(
        login_failures_per_account=3, login_failures_per_address=100, login_failure_decay=0.3
    )
    owner = await dial(server, local_addr="127.0.0.2")
    await owner.register("trickled")
    await owner.close()
    attacker = await dial(server, local_addr="127.0.0.3")
    for n in range(8):
        await attacker.send(Login(username="trickled", password=f"slow guess {n}"))
        await attacker.expect_error("auth_failed")
        await asyncio.sleep(0.5)
    # Even from the attacker's own address (not clean), the owner is let in.
    home = await dial(server, local_addr="127.0.0.3")
    assert (await home.login("trickled")).username == "trickled"
