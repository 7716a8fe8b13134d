"""The rate limiters as plain data structures, driven with made-up times."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatapp.server.ratelimit import FailureThrottle, WindowCounter, address_key


def admitted(throttle: FailureThrottle, key: str, now: float, attempts: int) -> int:
    """How many of ``attempts`` simultaneous attempts may go ahead."""
    return sum(1 for _ in range(attempts) if throttle.reserve(key, now) == 0.0)


def test_a_concurrent_burst_gets_exactly_the_free_attempts() -> None:
    throttle = FailureThrottle(5, base=1.0, max_delay=900.0)
    assert admitted(throttle, "alice", 0.0, 60) == 5
    for _ in range(5):
        throttle.failed("alice", 0.5)
    # Five failures: blocked for a second, then exactly one attempt at a time.
    assert throttle.reserve("alice", 1.0) == 0.5
    assert admitted(throttle, "alice", 1.5, 60) == 1
    throttle.failed("alice", 2.0)
    assert throttle.retry_after("alice", 2.0) == 2.0
    assert admitted(throttle, "alice", 4.0, 60) == 1
    throttle.failed("alice", 4.5)
    assert throttle.retry_after("alice", 4.5) == 4.0


def test_pending_attempts_count_until_they_settle() -> None:
    throttle = FailureThrottle(3)
    assert admitted(throttle, "k", 0.0, 3) == 3
    assert throttle.reserve("k", 0.0) > 0  # three in flight: the fourth waits for their verdicts
    throttle.release("k", 0.1)  # one was not a failure after all
    assert admitted(throttle, "k", 0.1, 5) == 1
    throttle.failed("k", 0.2)
    throttle.failed("k", 0.2)
    throttle.failed("k", 0.2)
    assert throttle.retry_after("k", 0.2) == 1.0


def test_success_forgives_every_failure_and_release_forgives_none() -> None:
    throttle = FailureThrottle(2)
    for now in (0.0, 0.1):
        assert throttle.reserve("acct", now) == 0.0
        throttle.failed("acct", now)
    assert throttle.retry_after("acct", 0.2) > 0
    assert throttle.reserve("acct", 5.0) == 0.0
    throttle.release("acct", 5.1)
    assert not throttle.is_clean("acct", 5.1)
    assert throttle.reserve("acct", 5.2) == 0.0
    throttle.succeeded("acct", 5.3)
    assert throttle.is_clean("acct", 5.3)
    assert admitted(throttle, "acct", 5.4, 10) == 2
    assert len(throttle) == 1


def test_failures_decay_one_per_interval_and_the_delay_with_them() -> None:
    throttle = FailureThrottle(5, base=1.0, max_delay=900.0, decay=600.0)
    now = 0.0
    for _ in range(12):  # five free, then seven more, each as soon as the block allows
        now += throttle.retry_after("k", now) + 0.001
        assert throttle.reserve("k", now) == 0.0
        throttle.failed("k", now)
    assert throttle.retry_after("k", now) == 128.0  # 2**7
    # An hour of quiet forgives six of the twelve: the next failure is the seventh again (2**2, not 2**8).
    now += 3600.0
    assert throttle.reserve("k", now) == 0.0
    throttle.failed("k", now)
    assert throttle.retry_after("k", now) == 4.0
    # And enough quiet forgives everything.
    assert throttle.is_clean("k", now + 7 * 600.0)
    assert len(throttle) == 0


def test_a_trickle_slower_than_the_decay_never_blocks() -> None:
    """The bug: four wrong guesses an hour kept an account locked for good."""
    throttle = FailureThrottle(5, base=1.0, max_delay=900.0, decay=600.0)
    for hour in range(48):
        for quarter in range(4):
            now = hour * 3600.0 + quarter * 900.0
            assert throttle.reserve("owner", now) == 0.0, (hour, quarter)
            throttle.failed("owner", now)


def test_the_delay_never_exceeds_the_maximum() -> None:
    throttle = FailureThrottle(1, base=1.0, max_delay=60.0, decay=1e9)
    now = 0.0
    for _ in range(200):
        now += throttle.retry_after("k", now)
        assert throttle.reserve("k", now) == 0.0
        throttle.failed("k", now)
        assert throttle.retry_after("k", now) <= 60.0


def test_past_block_passes_a_block_but_not_an_attempt_in_flight() -> None:
    throttle = FailureThrottle(1, base=100.0)
    assert throttle.reserve("acct", 0.0) == 0.0
    throttle.failed("acct", 0.0)
    assert throttle.reserve("acct", 1.0) == 99.0
    assert throttle.reserve("acct", 1.0, past_block=True) == 0.0
    assert throttle.reserve("acct", 1.0, past_block=True) > 0  # one at a time, even so
    throttle.failed("acct", 1.5)
    assert throttle.retry_after("acct", 1.5) == 200.0


def test_failures_that_were_never_reserved() -> None:
    throttle = FailureThrottle(2)
    throttle.failed("addr", 0.0, reserved=False)
    assert throttle.retry_after("addr", 0.0) == 0.0
    throttle.failed("addr", 0.0, reserved=False)
    assert throttle.retry_after("addr", 0.0) == 1.0


def test_settling_an_evicted_key_is_harmless() -> None:
    throttle = FailureThrottle(3, max_keys=4)
    assert throttle.reserve("gone", 0.0) == 0.0
    for n in range(10):
        assert throttle.reserve(f"other{n}", 1.0 + n) == 0.0
        throttle.failed(f"other{n}", 1.0 + n)
    throttle.release("gone", 20.0)
    throttle.succeeded("gone", 20.0)
    throttle.failed("gone", 20.0)
    assert len(throttle) <= 4


def test_failure_throttle_never_holds_more_than_max_keys() -> None:
    throttle = FailureThrottle(5, max_keys=100, decay=1e9)
    for n in range(1000):
        key = f"addr{n}"
        assert throttle.reserve(key, float(n)) == 0.0
        throttle.failed(key, float(n))
        assert len(throttle) <= 100
    # The newest keys are the ones kept.
    assert not throttle.is_clean("addr999", 1000.0)


def test_window_counter_never_holds_more_than_max_keys() -> None:
    counter = WindowCounter(10, 3600.0, max_keys=100)
    for n in range(1000):
        counter.add(f"addr{n}", 1.0)  # every one live: nothing is stale to sweep
        assert len(counter) <= 100
    assert counter.retry_after("addr999", 2.0) == 0.0


def test_window_counter_reserve_counts_a_burst_once() -> None:
    counter = WindowCounter(10, 3600.0)
    granted = [counter.reserve("10.0.0.1", 5.0) == 0.0 for _ in range(40)]
    assert granted.count(True) == 10
    assert counter.reserve("10.0.0.1", 6.0) == 3599.0
    # A reservation whose work did not happen is taken back.
    counter.cancel("10.0.0.1", 5.0)
    assert counter.reserve("10.0.0.1", 7.0) == 0.0
    assert counter.reserve("10.0.0.1", 7.0) > 0
    assert counter.reserve("10.0.0.2", 7.0) == 0.0
    assert counter.reserve("10.0.0.1", 3605.0) == 0.0


def test_window_counter_cancel_of_the_last_event_forgets_the_key() -> None:
    counter = WindowCounter(3, 60.0)
    assert counter.reserve("a", 1.0) == 0.0
    counter.cancel("a", 1.0)
    counter.cancel("a", 1.0)
    counter.cancel("never", 1.0)
    assert len(counter) == 0


_op = st.tuples(
    st.sampled_from(["reserve", "reserve_past", "failed", "release", "succeeded"]),
    st.sampled_from(["a", "b"]),
    st.floats(min_value=0.0, max_value=400.0),
)


@given(free=st.integers(min_value=1, max_value=6), ops=st.lists(_op, max_size=200))
def test_failure_throttle_invariants(free: int, ops: list[tuple[str, str, float]]) -> None:
    """However attempts interleave: past the free ones, one at a time; never a wait past the maximum."""
    throttle = FailureThrottle(free, base=1.0, max_delay=120.0, decay=300.0, max_keys=8)
    now = 0.0
    in_flight = {"a": 0, "b": 0}
    for name, key, step in ops:
        now += step
        if name.startswith("reserve"):
            if throttle.reserve(key, now, past_block=name == "reserve_past") == 0.0:
                in_flight[key] += 1
        elif in_flight[key]:
            in_flight[key] -= 1
            getattr(throttle, name)(key, now)
        entry = throttle._keys.get(key)
        if entry is not None:
            assert entry.pending <= max(free - entry.count, 1)
            assert entry.pending == in_flight[key]
        assert throttle.retry_after(key, now) <= 120.0


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("?", "?"),
    ],
)
def test_addresses_count_per_ipv4_address_and_per_ipv6_64(address: str, key: str) -> None:
    assert address_key(address) == key
