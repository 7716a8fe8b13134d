"""Connection limits as bookkeeping (no sockets), and their settings."""

from __future__ import annotations

import dataclasses
import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from chatapp.server.capacity import (
    HEADROOM,
    Capacity,
    Limit,
    LogThrottle,
    Seat,
    connections_allowed,
    network_of,
)
from chatapp.server.config import Config
from chatapp.server.config_checks import validate


def capacity(total: int = 100, per_address: int = 100, per_network: int = 100, **kw: int) -> Capacity:
    return Capacity(total=total, per_address=per_address, per_network=per_network, **kw)


def test_each_address_has_its_own_budget() -> None:
    cap = capacity(per_address=2)
    assert isinstance(cap.take("192.0.2.1"), Seat)
    assert isinstance(cap.take("192.0.2.1"), Seat)
    assert cap.take("192.0.2.1") is Limit.ADDRESS
    assert isinstance(cap.take("192.0.2.2"), Seat)


def test_ipv4_networks_are_counted_by_the_configured_prefix() -> None:
    cap = capacity(per_network=2, ipv4_prefix=24)
    assert isinstance(cap.take("192.0.2.1"), Seat)
    assert isinstance(cap.take("192.0.2.200"), Seat)
    assert cap.take("192.0.2.99") is Limit.NETWORK
    assert isinstance(cap.take("192.0.3.1"), Seat)  # the next /24
    wide = capacity(per_network=2, ipv4_prefix=16)
    wide.take("192.0.2.1")
    wide.take("192.0.3.1")
    assert wide.take("192.0.200.1") is Limit.NETWORK


def test_ipv6_addresses_of_one_64_share_a_budget() -> None:
    cap = capacity(per_network=3)
    for host in range(3):
        assert isinstance(cap.take(f"2001:db8:0:1::{host + 1:x}"), Seat)
    # However many addresses the /64 has, it gets no more.
    assert cap.take("2001:db8:0:1:ffff:ffff:ffff:ffff") is Limit.NETWORK
    assert isinstance(cap.take("2001:db8:0:2::1"), Seat)


def test_ipv4_mapped_ipv6_counts_as_ipv4() -> None:
    cap = capacity(per_address=1, per_network=10, ipv4_prefix=32)
    assert isinstance(cap.take("::ffff:192.0.2.1"), Seat)
    assert cap.take("192.0.2.1") is Limit.ADDRESS  # the same address, however spelled
    # A /32 per network here: as IPv6 these would all share ::/64, as IPv4 they do not.
    for n in range(2, 12):
        assert isinstance(cap.take(f"::ffff:192.0.2.{n}"), Seat)


@given(st.ip_addresses(v=4))
def test_an_ipv4_address_and_its_mapped_form_are_one(address: ipaddress.IPv4Address) -> None:
    mapped = f"::ffff:{address}"
    assert network_of(mapped, 24, 64) == network_of(str(address), 24, 64)
    counted, network = network_of(str(address), 24, 64)
    assert counted == str(address) and ipaddress.ip_address(counted) in ipaddress.ip_network(network)


@given(st.ip_addresses(v=6), st.integers(0, 128))
def test_an_ipv6_address_is_in_its_network(address: ipaddress.IPv6Address, prefix: int) -> None:
    counted, network = network_of(str(address), 24, prefix)
    if address.ipv4_mapped is not None:
        assert counted == str(address.ipv4_mapped)
    else:
        assert ipaddress.ip_network(network).prefixlen == prefix
        assert address in ipaddress.ip_network(network)


def test_something_that_is_not_an_ip_address_is_its_own_network() -> None:
    cap = capacity(per_address=1, per_network=1)
    assert isinstance(cap.take("?"), Seat)
    assert cap.take("?") is Limit.ADDRESS
    assert isinstance(cap.take("/run/chat.sock"), Seat)


def test_the_total_is_shared_by_everyone() -> None:
    cap = capacity(total=3)
    seats = [cap.take(f"192.0.{n}.1") for n in range(3)]
    assert cap.take("198.51.100.1") is Limit.SERVER
    assert cap.held == 3
    first = seats[0]
    assert isinstance(first, Seat)
    cap.give_back(first)
    assert isinstance(cap.take("198.51.100.1"), Seat)


def test_the_most_specific_limit_is_named() -> None:
    cap = capacity(total=2, per_address=2, per_network=2)
    cap.take("192.0.2.1")
    cap.take("192.0.2.1")
    assert cap.take("192.0.2.1") is Limit.ADDRESS
    assert cap.take("192.0.2.2") is Limit.NETWORK
    assert cap.take("198.51.100.1") is Limit.SERVER


def test_giving_back_frees_every_count() -> None:
    cap = capacity(total=1, per_address=1, per_network=1)
    for _ in range(5):
        seat = cap.take("2001:db8::1")
        assert isinstance(seat, Seat)
        assert cap.take("2001:db8::2") is Limit.NETWORK
        cap.give_back(seat)
    assert cap.held == 0


def test_descriptors_left_for_connections() -> None:
    assert connections_allowed(20_000) == 20_000 - HEADROOM
    assert connections_allowed(HEADROOM) == 0
    assert connections_allowed(10) == 0


def test_refusals_are_logged_once_per_kind_per_interval_with_a_count() -> None:
    throttle = LogThrottle(interval=10.0)
    assert throttle.admit("server_full", now=100.0) == 0
    assert [throttle.admit("server_full", now=100.0 + n) for n in range(1, 6)] == [None] * 5
    assert throttle.admit("network", now=103.0) == 0  # another kind has its own interval
    assert throttle.admit("server_full", now=110.0) == 5  # five held back since the last line
    assert throttle.admit("server_full", now=125.0) == 0


def test_config_refuses_more_connections_than_descriptors_allow() -> None:
    base = Config()
    assert validate(base, descriptor_limit=20_000) is None
    assert validate(dataclasses.replace(base, max_connections=20_000 - HEADROOM), 20_000) is None
    problem = validate(dataclasses.replace(base, max_connections=20_000), descriptor_limit=20_000)
    assert problem is not None
    assert "--max-connections 20000" in problem and str(20_000 - HEADROOM) in problem
    problem = validate(base, descriptor_limit=HEADROOM)
    assert problem is not None and "leaves no descriptor for connections" in problem
    # An unknown limit is not checked; a negative count never makes sense.
    assert validate(dataclasses.replace(base, max_connections=10**9), descriptor_limit=None) is None
    assert validate(dataclasses.replace(base, max_connections=-1), None) is not None


def test_config_checks_subnet_settings() -> None:
    base = Config()
    assert validate(dataclasses.replace(base, max_connections_per_subnet=0)) is not None
    assert validate(dataclasses.replace(base, ipv4_subnet_prefix=33)) is not None
    assert validate(dataclasses.replace(base, ipv6_subnet_prefix=129)) is not None
    assert validate(dataclasses.replace(base, ipv4_subnet_prefix=0, ipv6_subnet_prefix=128)) is None
