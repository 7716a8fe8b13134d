"""Address bans in memory: what the listener asks about every new connection, before any work.

Bans are loaded from the store at start and changed here when a moderator bans
or lifts one, so accepting a connection never waits for the database. A check
is a set look-up for single addresses and a walk over the (short) list of
ranges; an expired ban is dropped when met. An IPv4-mapped IPv6 address
(``::ffff:192.0.2.1``) is checked as the IPv4 address it is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import datetime

from chatapp.clock import wire_timestamp
from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.protocol.limits import ADDRESS_MAX
from chatapp.server.store import AddressBanRecord

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_network(text: str) -> Network:
    """An address (``203.0.113.7``, ``2001:db8::1``) or a CIDR range (``203.0.113.0/24``) as a
    network; host bits of a range are dropped (``203.0.113.7/24`` is ``203.0.113.0/24``).
    ``invalid_address`` otherwise."""
    text = text.strip()
    if not text or len(text) > ADDRESS_MAX:
        raise ProtocolError(
            ErrorCode.INVALID_ADDRESS, f"an address or range is 1 to {ADDRESS_MAX} characters"
        )
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ProtocolError(
            ErrorCode.INVALID_ADDRESS,
            # Cut after the escaping: a text of controls escapes to four times its length.
            f"{repr(text)[:ADDRESS_MAX]} is not an IPv4 or IPv6 address or CIDR range (like 203.0.113.0/24)",
        ) from None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:  # ::ffff:a.b.c.d/n is the IPv4 range it maps
            network = ipaddress.IPv4Network((mapped, network.prefixlen - 96), strict=False)
    return network


def normalise(text: str) -> str:
    """The form a ban is stored and shown in: ``203.0.113.7/32``, ``2001:db8::/32``."""
    return str(parse_network(text))


def client_ip(text: str) -> Address | None:
    """A client's address as an IP address (an IPv4-mapped IPv6 one as IPv4); None if it is not one."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def covers(network: Network, ip: Address) -> bool:
    return ip.version == network.version and ip in network


class AddressBans:
    """The bans in force, by network."""

    def __init__(self, bans: Iterable[AddressBanRecord] = ()) -> None:
        self._bans: dict[Network, AddressBanRecord] = {}
        self._exact: set[Address] = set()
        self._ranges: list[Network] = []
        for ban in bans:
            self.add(ban)

    def __len__(self) -> int:
        return len(self._bans)

    def add(self, ban: AddressBanRecord) -> None:
        network = ipaddress.ip_network(ban.network)
        self._bans[network] = ban
        self._rebuild()

    def remove(self, network: str) -> None:
        self._bans.pop(ipaddress.ip_network(network), None)
        self._rebuild()

    def replace(self, bans: Iterable[AddressBanRecord]) -> list[AddressBanRecord]:
        """Keep exactly these (read again from the store: another process may have changed them);
        the ones that are new here."""
        before = set(self._bans)
        self._bans = {ipaddress.ip_network(ban.network): ban for ban in bans}
        self._rebuild()
        return [ban for network, ban in self._bans.items() if network not in before]

    def _rebuild(self) -> None:
        self._exact = {n.network_address for n in self._bans if n.num_addresses == 1}
        self._ranges = [n for n in self._bans if n.num_addresses > 1]

    def match(self, address: str, now: datetime) -> AddressBanRecord | None:
        """The ban in force that covers ``address`` (a client's IP address), if any."""
        if not self._bans:
            return None
        ip = client_ip(address)
        if ip is None:
            return None
        if ip in self._exact:
            found = self._bans[ipaddress.ip_network(ip)]
            if self._current(found, now):
                return found
        for network in self._ranges:
            if covers(network, ip):
                found = self._bans[network]
                if self._current(found, now):
                    return found
        return None

    def _current(self, ban: AddressBanRecord, now: datetime) -> bool:
        if ban.until is None or ban.until > now:
            return True
        self.remove(ban.network)  # expired: as good as none
        return False


def ban_message(ban: AddressBanRecord) -> str:
    """The ``bye`` message to a connection from a banned address: until when, and why."""
    until = f" until {wire_timestamp(ban.until)}" if ban.until is not None else ""
    reason = f": {ban.reason}" if ban.reason else ""
    return f"this address is banned{until}{reason}"
