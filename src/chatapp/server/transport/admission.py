"""Who gets a seat: the connection limits in force, and the refusal of a new connection.

Asked at accept time by the listener, for every endpoint alike (plain, TLS, web),
before any work is done for the connection: a server that is stopping, a banned
address (:mod:`chatapp.server.address_bans`, in memory), a limit of
:mod:`chatapp.server.capacity`.
"""

from __future__ import annotations

import dataclasses
import logging

from chatapp.clock import utc_now
from chatapp.protocol import Bye, ByeReason, encode
from chatapp.server import activity, descriptors
from chatapp.server.address_bans import AddressBans, ban_message
from chatapp.server.capacity import Capacity, Limit, Seat, connections_allowed
from chatapp.server.config import Config
from chatapp.server.throttles import Counters
from chatapp.server.transport.tls_accept import Address

BYES = {reason: encode(Bye(reason=reason.value)) for reason in ByeReason}

REFUSALS = {
    Limit.ADDRESS: ByeReason.TOO_MANY_CONNECTIONS,
    Limit.NETWORK: ByeReason.TOO_MANY_FROM_NETWORK,
    Limit.SERVER: ByeReason.SERVER_FULL,
}


NO_FD_LIMIT_CONNECTIONS = 100_000
"""The total connection limit where the process has no open-file limit (and none is set)."""

_BYES = {reason: encode(Bye(reason=reason.value)) for reason in ByeReason}

REFUSALS = {
    Limit.ADDRESS: ByeReason.TOO_MANY_CONNECTIONS,
    Limit.NETWORK: ByeReason.TOO_MANY_FROM_NETWORK,
    Limit.SERVER: ByeReason.SERVER_FULL,
}


def capacity_for(config: Config, counters: Counters | None = None) -> Capacity:
    """The connection limits in force, the total one derived from the open-file limit (logged);
    counted by ``counters`` (across processes with ``--redis-url``), else by this process."""
    fd_limit = descriptors.limit()
    allowed = connections_allowed(fd_limit) if fd_limit is not None else None
    if config.max_connections:
        total = config.max_connections
    else:
        total = allowed if allowed is not None else NO_FD_LIMIT_CONNECTIONS
    if allowed is not None and total > allowed:
        # validate() checks against the hard limit: here the soft one could not be raised to it.
        activity.record(
            "capacity_lowered", logging.WARNING, wanted=total, descriptors=fd_limit, allowed=allowed
        )
        total = allowed
    total = max(1, total)
    activity.record(
        "capacity",
        descriptors=fd_limit if fd_limit is not None else "unlimited",
        max_connections=total,
        per_address=config.max_connections_per_address,
        per_subnet=config.max_connections_per_subnet,
        ipv4_prefix=config.ipv4_subnet_prefix,
        ipv6_prefix=config.ipv6_subnet_prefix,
    )
    return (counters if counters is not None else Counters(config)).capacity(
        total=total,
        per_address=config.max_connections_per_address,
        per_network=config.max_connections_per_subnet,
        ipv4_prefix=config.ipv4_subnet_prefix,
        ipv6_prefix=config.ipv6_subnet_prefix,
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Refusal:
    reason: ByeReason
    bye: bytes | None = None
    """The ``bye`` to send, when not the reason's own (an address ban's says until when)."""




def admit(
    capacity: Capacity, bans: AddressBans | None, address: Address, *, stopping: bool
) -> Seat | Refusal:
    """A seat for a new connection from ``address``, or why it is refused."""
    if stopping:
        return Refusal(ByeReason.SHUTDOWN)
    ban = bans.match(str(address[0]), utc_now()) if bans else None
    if ban is not None:
        bye = encode(Bye(reason=ByeReason.ADDRESS_BANNED.value, message=ban_message(ban)))
        return Refusal(ByeReason.ADDRESS_BANNED, bye)
    seat = capacity.take(str(address[0]))
    if isinstance(seat, Limit):
        return Refusal(REFUSALS[seat])
    return seat
