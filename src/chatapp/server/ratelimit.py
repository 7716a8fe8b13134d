"""Rate limits: a token bucket for message floods, escalating delays for failed logins,
and a sliding window for account creation.

All take the current monotonic time as an argument instead of reading a clock,
so they are plain data structures that tests drive with made-up times. Maps
keyed by address or account never hold more than ``max_keys`` keys: stale
entries are swept, and when live ones still fill the map the oldest are
forgotten, so a flood of distinct keys cannot grow memory without limit.
"""

from __future__ import annotations

import collections
import contextlib
import ipaddress
from dataclasses import dataclass


def address_key(address: str) -> str:
    """What limits per address count under: an IPv4 address, or the /64 network of an IPv6 one.

    One IPv6 subscriber is usually given a whole /64; counted per address, it
    would have 2**64 clean addresses to rotate through.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address


class TokenBucket:
    """Allows ``burst`` events at once and ``rate`` per second sustained."""

    __slots__ = ("rate", "burst", "_tokens", "_stamp")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._stamp = now

    def take(self, now: float) -> float:
        """Take one token; return 0.0 if allowed, else seconds until one is available."""
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    def full(self, now: float) -> bool:
        """Whether the bucket has refilled completely by ``now`` (it is then as good as a new one)."""
        return self._tokens + (now - self._stamp) * self.rate >= self.burst


@dataclass(slots=True)
class _Failures:
    count: int
    """Failures not forgiven yet."""
    pending: int
    """Attempts reserved and not settled yet."""
    blocked_until: float
    decay_from: float
    """Where the clock that forgives one failure every ``decay`` seconds started."""
    last: float
    """The latest reservation or failure: what is evicted first when the map is full."""


class FailureThrottle:
    """Escalating delays after repeated failures of one key (an account or an address).

    An attempt is *reserved* (:meth:`reserve`) before the costly check (argon2)
    and *settled* after it: :meth:`failed`, :meth:`release` (not a failure) or
    :meth:`succeeded` (forgives every failure). A pending attempt counts as a
    failure until it is settled, so a burst of concurrent attempts gets exactly
    as many checks as sequential ones would:

    - while failures and pending attempts together are fewer than ``free``,
      attempts go ahead, at once if they come at once;
    - from then on, one attempt at a time, and only when the key is not
      blocked: reaching ``free`` failures blocks it for ``base`` seconds, and
      each failure after that doubles the delay, never beyond ``max_delay``;
    - one failure is forgiven every ``decay`` seconds, so the delay shrinks
      with time and failures slower than that never add up. Never a permanent
      lock: a real user is at worst kept waiting ``max_delay``.

    ``reserve(..., past_block=True)`` lets an attempt through a block (not past
    another attempt in flight): the caller's way to let an attempt from a
    clean address reach a blocked account.
    """

    def __init__(
        self,
        free: int,
        *,
        base: float = 1.0,
        max_delay: float = 900.0,
        decay: float = 600.0,
        max_keys: int = 100_000,
    ) -> None:
        self.free = free
        self.base = base
        self.max_delay = max_delay
        self.decay = decay
        self.max_keys = max_keys
        self._keys: dict[str, _Failures] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def reserve(self, key: str, now: float, *, past_block: bool = False) -> float:
        """Count an attempt as pending: 0.0 if it may go ahead, else the seconds to wait (nothing counted)."""
        entry = self._live(key, now)
        if entry is None:
            entry = self._insert(key, now)
        if entry.count + entry.pending < self.free:
            entry.pending += 1
            entry.last = now
            return 0.0
        if entry.pending:
            # One attempt at a time now; its verdict decides what comes next.
            return max(self.base, entry.blocked_until - now)
        wait = entry.blocked_until - now
        if wait > 0 and not past_block:
            return wait
        entry.pending = 1
        entry.last = now
        return 0.0

    def failed(self, key: str, now: float, *, reserved: bool = True) -> None:
        """Settle a reserved attempt as a failure (``reserved=False``: count one that was never reserved)."""
        entry = self._live(key, now)
        if entry is None:
            entry = self._insert(key, now)  # evicted while the attempt ran: start again from this failure
        elif reserved:
            entry.pending = max(0, entry.pending - 1)
        if not entry.count:
            entry.decay_from = now
        entry.count += 1
        entry.last = now
        over = entry.count - self.free
        if over >= 0:
            entry.blocked_until = now + min(self.max_delay, self.base * 2 ** min(over, 30))

    def release(self, key: str, now: float) -> None:
        """Settle a reserved attempt that was not a failure; failures so far stay."""
        entry = self._live(key, now)
        if entry is not None:
            entry.pending = max(0, entry.pending - 1)
            self._live(key, now)  # drops the entry if nothing is left of it

    def succeeded(self, key: str, now: float) -> None:
        """Settle a reserved attempt that succeeded: every failure of the key is forgiven."""
        entry = self._live(key, now)
        if entry is not None:
            entry.pending = max(0, entry.pending - 1)
            entry.count = 0
            entry.blocked_until = 0.0
            self._live(key, now)

    def retry_after(self, key: str, now: float) -> float:
        """Seconds the key is blocked for (0.0: not blocked); attempts in flight are not counted."""
        entry = self._live(key, now)
        return 0.0 if entry is None else max(0.0, entry.blocked_until - now)

    def is_clean(self, key: str, now: float) -> bool:
        """True when the key has no failures to its name and no attempt in flight."""
        return self._live(key, now) is None

    def _live(self, key: str, now: float) -> _Failures | None:
        """The key's entry with its due failures forgiven; None (and gone) when nothing is left of it."""
        entry = self._keys.get(key)
        if entry is None:
            return None
        if entry.count and now - entry.decay_from >= self.decay:
            steps = int((now - entry.decay_from) // self.decay)
            entry.count = max(0, entry.count - steps)
            entry.decay_from += steps * self.decay
        if not entry.count and not entry.pending and entry.blocked_until <= now:
            del self._keys[key]
            return None
        return entry

    def _insert(self, key: str, now: float) -> _Failures:
        if len(self._keys) >= self.max_keys:
            self._make_room(now)
        entry = self._keys[key] = _Failures(0, 0, 0.0, now, now)
        return entry

    def _make_room(self, now: float) -> None:
        for key in list(self._keys):
            self._live(key, now)
        keep = self.max_keys * 3 // 4
        if len(self._keys) > keep:
            # Still full of live entries (a flood of distinct keys): drop the oldest — those with an
            # attempt in flight last — rather than grow. A quarter at a time, so a full map costs
            # one sweep per many insertions, not one each.
            entries = self._keys
            oldest = sorted(entries, key=lambda k: (entries[k].pending > 0, entries[k].last))
            for key in oldest[: len(entries) - keep]:
                del entries[key]


class WindowCounter:
    """At most ``limit`` events per key within any ``window`` seconds.

    :meth:`reserve` checks and counts in one step, before the work it limits
    (hashing a new account's password), so concurrent attempts cannot all pass
    the check before any is counted; :meth:`cancel` takes the event back when
    the work did not happen after all (the name was taken).
    """

    def __init__(self, limit: int, window: float, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.max_keys = max_keys
        self._events: dict[str, collections.deque[float]] = {}

    def __len__(self) -> int:
        return len(self._events)

    def retry_after(self, key: str, now: float) -> float:
        events = self._events.get(key)
        if not events:
            return 0.0
        while events and now - events[0] >= self.window:
            events.popleft()
        if not events:
            del self._events[key]
            return 0.0
        if len(events) < self.limit:
            return 0.0
        return self.window - (now - events[0])

    def add(self, key: str, now: float) -> None:
        events = self._events.get(key)
        if events is None:
            if len(self._events) >= self.max_keys:
                self._make_room(now)
            # Only the latest ``limit`` events can decide a wait: never keep more.
            events = self._events[key] = collections.deque(maxlen=max(1, self.limit))
        events.append(now)

    def reserve(self, key: str, now: float) -> float:
        """Count an event at ``now`` if the key has room: 0.0; else seconds until it has (nothing counted)."""
        wait = self.retry_after(key, now)
        if not wait:
            self.add(key, now)
        return wait

    def cancel(self, key: str, stamp: float) -> None:
        """Take back an event counted at ``stamp``."""
        events = self._events.get(key)
        if events is None:
            return
        with contextlib.suppress(ValueError):
            events.remove(stamp)
        if not events:
            del self._events[key]

    def _make_room(self, now: float) -> None:
        for key in [k for k, ev in self._events.items() if not ev or now - ev[-1] >= self.window]:
            del self._events[key]
        keep = self.max_keys * 3 // 4
        if len(self._events) > keep:
            # Full of keys with recent events: forget those whose latest event is oldest rather than
            # grow (a quarter at a time, so a full map costs one sweep per many insertions).
            events = self._events
            oldest = sorted(events, key=lambda k: events[k][-1])
            for key in oldest[: len(events) - keep]:
                del events[key]
