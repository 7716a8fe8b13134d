"""How many connections the server holds: in all, per network and per address.

Pure bookkeeping, no sockets: the accept path asks :meth:`Capacity.take` for
a seat before it does any work for a new connection, and gives the seat back
when the connection's socket is closed. A refusal says which limit was hit.

Networks: an IPv6 host usually has a whole /64 to itself, so one attacker can
connect from as many addresses as it likes; addresses are therefore also
counted per network (IPv6 /64, IPv4 /24 by default). An IPv4-mapped IPv6
address (``::ffff:192.0.2.1``, from a dual-stack listener) counts as the IPv4
address it is.
"""

from __future__ import annotations

import collections
import enum
import ipaddress
from dataclasses import dataclass

LISTEN_BACKLOG = 100
"""Connections the kernel queues for ``accept`` (asyncio's default, made explicit for HEADROOM)."""

HEADROOM = 32 + 64 + 4 * LISTEN_BACKLOG
"""File descriptors kept back from connections, out of the process's limit (496).

- 32 for the process itself: standard streams, the event loop's own
  descriptors, the listening sockets, a spare for running out
  (:mod:`chatapp.server.descriptors`), files opened by lazy imports.
- 64 for the database. SQLite: a file and its write-ahead log per
  connection, 15 pooled and 4 on the fast-path threads (40 measured under
  load); PostgreSQL: a socket per pooled connection.
- 400 for connections accepted only to be refused. Each holds a descriptor
  until its ``bye`` is written and it is closed, four event-loop turns later
  with asyncio's own loop, which accepts up to the listen backlog each turn
  while connections wait: a storm against a full server had 337 of them open
  at once (uvloop: 3).
"""

REFUSAL_LOG_INTERVAL = 10.0
"""Seconds between two log lines about refusals of the same kind."""


def connections_allowed(descriptor_limit: int) -> int:
    """The most connections a process with this many file descriptors can hold (0 if none)."""
    return max(0, descriptor_limit - HEADROOM)


class Limit(enum.Enum):
    """Which limit refused a connection."""

    ADDRESS = "address"
    NETWORK = "network"
    SERVER = "server"


@dataclass(frozen=True, slots=True)
class Seat:
    """A connection's place, held from accept to close; give it back exactly once."""

    address: str
    network: str


def network_of(address: str, ipv4_prefix: int, ipv6_prefix: int) -> tuple[str, str]:
    """The address as counted (IPv4-mapped IPv6 as IPv4) and its network.

    Something that is not an IP address (a Unix socket's path, an unknown
    peer) is its own network.
    """
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    except ValueError:
        return address, address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = ipv4_prefix if ip.version == 4 else ipv6_prefix
    return str(ip), str(ipaddress.ip_network((ip, prefix), strict=False))


class Capacity:
    """Counts held seats in all, per network and per address, against their limits."""

    confirms = False
    """Whether a seat taken must also be confirmed (:meth:`confirm`) before the connection is
    served: with ``--redis-url`` the other processes' connections count too
    (:mod:`chatapp.server.shared_seats`)."""

    def __init__(
        self,
        *,
        total: int,
        per_address: int,
        per_network: int,
        ipv4_prefix: int = 24,
        ipv6_prefix: int = 64,
    ) -> None:
        self.total = total
        self.per_address = per_address
        self.per_network = per_network
        self._ipv4_prefix = ipv4_prefix
        self._ipv6_prefix = ipv6_prefix
        self._held = 0
        self._addresses: collections.Counter[str] = collections.Counter()
        self._networks: collections.Counter[str] = collections.Counter()

    @property
    def held(self) -> int:
        return self._held

    def take(self, address: str) -> Seat | Limit:
        """A seat for a connection from ``address``, or the limit that refuses it.

        The most specific limit is named first: a client over its own
        address's limit is told so even when the server is also full.
        """
        address, network = network_of(address, self._ipv4_prefix, self._ipv6_prefix)
        if self._addresses[address] >= self.per_address:
            return Limit.ADDRESS
        if self._networks[network] >= self.per_network:
            return Limit.NETWORK
        if self._held >= self.total:
            return Limit.SERVER
        self._held += 1
        self._addresses[address] += 1
        self._networks[network] += 1
        return Seat(address, network)

    async def confirm(self, seat: Seat) -> Limit | None:
        """The limit that refuses a seat taken after all, or None. In one process, never one."""
        return None

    def give_back(self, seat: Seat) -> None:
        self._held -= 1
        for counts, key in ((self._addresses, seat.address), (self._networks, seat.network)):
            counts[key] -= 1
            if not counts[key]:
                del counts[key]


class LogThrottle:
    """At most one log line per kind of event per interval, counting those held back.

    The first event of a kind is logged at once; later ones within the
    interval only count, and the next line logged says how many were held
    back since the previous one.
    """

    def __init__(self, interval: float = REFUSAL_LOG_INTERVAL) -> None:
        self._interval = interval
        self._last: dict[str, float] = {}
        self._held_back: collections.Counter[str] = collections.Counter()

    def admit(self, kind: str, now: float) -> int | None:
        """None: stay quiet. Otherwise log now; the number is how many were held back before."""
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._held_back[kind] += 1
            return None
        self._last[kind] = now
        return self._held_back.pop(kind, 0)
