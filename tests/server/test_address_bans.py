"""Address bans in memory and the parsing of addresses and ranges (property-based), without a server."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.server.account_sanctions import AccountSanctions, described, until_of
from chatapp.server.address_bans import AddressBans, ban_message, normalise, parse_network
from chatapp.server.store import AccountSanctionRecord, AddressBanRecord

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def ban(network: str, until: datetime | None = None, reason: str | None = None) -> AddressBanRecord:
    return AddressBanRecord(normalise(network), reason, "mod", NOW, until)


@pytest.mark.parametrize(
    ("given_", "stored"),
    [
        ("203.0.113.7", "203.0.113.7/32"),
        (" 203.0.113.7/24 ", "203.0.113.0/24"),
        ("2001:DB8::1", "2001:db8::1/128"),
        ("2001:db8::1/48", "2001:db8::/48"),
        ("::ffff:192.0.2.1", "192.0.2.1/32"),
        ("::ffff:192.0.2.0/120", "192.0.2.0/24"),
    ],
)
def test_addresses_and_ranges_are_stored_in_one_normal_form(given_: str, stored: str) -> None:
    assert normalise(given_) == stored


@given(st.text(max_size=80))
def test_any_text_is_a_network_in_normal_form_or_invalid_address(text: str) -> None:
    try:
        network = parse_network(text)
    except ProtocolError as error:
        assert error.code is ErrorCode.INVALID_ADDRESS
        assert len(error.message) < 200  # the text is echoed cut short
        return
    assert normalise(str(network)) == str(network)  # idempotent


@given(st.ip_addresses(), st.integers(min_value=0, max_value=128))
def test_a_range_covers_exactly_its_addresses(address: Address, bits: int) -> None:
    # An IPv4-mapped IPv6 client is an IPv4 client: IPv6 ranges are not about it (tested below).
    assume(not (isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped))
    network = ipaddress.ip_network((address, min(bits, address.max_prefixlen)), strict=False)
    bans = AddressBans([ban(str(network))])
    assert bans.match(str(address), NOW) is not None
    try:
        outside = network.broadcast_address + 1
    except ipaddress.AddressValueError:
        return  # the range reaches the last address
    assert bans.match(str(outside), NOW) is None or outside in network


def test_matches_single_addresses_ranges_and_mapped_addresses() -> None:
    bans = AddressBans([ban("198.51.100.7", reason="spam"), ban("2001:db8::/32")])
    assert bans.match("198.51.100.7", NOW) is not None
    assert bans.match("::ffff:198.51.100.7", NOW) is not None  # an IPv4 client on a dual-stack socket
    assert bans.match("198.51.100.8", NOW) is None
    assert bans.match("2001:db8:1::5", NOW) is not None
    assert bans.match("2001:db9::5", NOW) is None
    assert bans.match("not an address", NOW) is None
    bans.remove("2001:db8::/32")
    assert bans.match("2001:db8:1::5", NOW) is None and len(bans) == 1


def test_an_expired_ban_is_as_good_as_none_and_dropped() -> None:
    bans = AddressBans([ban("192.0.2.0/24", until=NOW + timedelta(seconds=5)), ban("192.0.2.9")])
    assert bans.match("192.0.2.1", NOW + timedelta(seconds=4)) is not None
    assert bans.match("192.0.2.1", NOW + timedelta(seconds=5)) is None
    assert len(bans) == 1 and bans.match("192.0.2.9", NOW + timedelta(days=999)) is not None


def test_the_bye_says_until_when_and_why() -> None:
    assert ban_message(ban("192.0.2.9")) == "this address is banned"
    until = NOW + timedelta(hours=1)
    assert ban_message(ban("192.0.2.9", until, "abuse")) == (
        "this address is banned until 2026-12-05T13:00:00.000Z: abuse"
    )


def test_account_sanctions_end_by_themselves() -> None:
    until = NOW + timedelta(minutes=10)
    table = AccountSanctions([AccountSanctionRecord(1, "bob", "mute", "loud", "mod", NOW, until)])
    mute = table.get(1, NOW)
    assert mute is not None and until_of(mute) == "2026-12-05T12:10:00.000Z"
    assert described(mute, "muted") == "muted by mod until 2026-12-05T12:10:00.000Z: loud"
    assert table.get(2, NOW) is None
    assert table.get(1, until) is None and len(table) == 0
    forever = AccountSanctionRecord(3, "eve", "suspend", None, None, NOW, None)
    table.add(forever)
    assert described(forever, "suspended") == "suspended until lifted" and until_of(forever) is None
    assert table.get(3, NOW + timedelta(days=10_000)) is forever
