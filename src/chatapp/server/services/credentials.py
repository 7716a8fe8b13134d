"""Credentials: creating an account, checking a password, finding the session of a resume token.

Answers never tell an attacker more than they must: a failed login is
``auth_failed`` whether or not the account exists, and both cases cost one
argon2 verification. Failed logins are throttled per address and per account
with escalating delays that decay with time (never a permanent lock); each
attempt is counted before its hash, so a burst gets no more hashes than a
sequence would. Tokens are 256 random bits; only their SHA-256 is stored, so a
leaked database cannot resume anyone. A suspended account is refused
(``suspended``) only once its password or token has been checked: anyone else
learns nothing about it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from chatapp.clock import monotonic, utc_now
from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.protocol.limits import TOKEN_MAX
from chatapp.protocol.rules import check_password, check_username, username_key
from chatapp.server import activity
from chatapp.server.account_sanctions import AccountSanctions, described, until_of
from chatapp.server.config import Config
from chatapp.server.password_strength import measure, too_weak
from chatapp.server.passwords import PasswordHashing
from chatapp.server.ratelimit import address_key
from chatapp.server.session import SignedIn
from chatapp.server.store import Store, UsernameTaken, UserRecord
from chatapp.server.throttles import Attempt, Counters


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _rate_limited(retry_after: float) -> ProtocolError:
    seconds = max(1, round(retry_after + 0.5))
    return ProtocolError(
        ErrorCode.RATE_LIMITED,
        f"too many attempts; try again in {seconds} s",
        retry_after=float(seconds),
    )


class Credentials:
    def __init__(
        self,
        config: Config,
        store: Store,
        hashing: PasswordHashing,
        clock: Callable[[], float] = monotonic,
        suspensions: AccountSanctions | None = None,
        counters: Counters | None = None,
    ) -> None:
        """``suspensions``: the suspensions in force (kept up to date by the administration);
        ``counters``: the login and registration throttles (this process's own unless given: the
        app gives the ones shared by every process with ``--redis-url``)."""
        self._store = store
        self._suspensions = suspensions if suspensions is not None else AccountSanctions()
        self._hashing = hashing
        self._min_score = config.min_password_score
        counters = counters if counters is not None else Counters(config, clock)
        self._logins = counters.logins
        self._registrations = counters.registrations

    async def register(self, username: str, password: str, address: str) -> UserRecord:
        check_username(username)
        check_password(username, password)
        # Counted before the hash, so a burst of registrations cannot all pass the check first.
        counted = await self._registrations.reserve(address_key(address))
        if isinstance(counted, float):
            raise _rate_limited(counted)
        try:
            await self.check_strength(password, username)
            user = await self._create_account(username, password)
        except BaseException:
            await self._registrations.cancel(counted)  # no account was made: it does not count
            raise
        activity.record("register", user=user.username, addr=address)
        return user

    async def _create_account(self, username: str, password: str) -> UserRecord:
        # Nor may a new name be another user's display name: it would pose as them.
        store = self._store
        if await store.find_user(username) is not None or await store.display_name_in_use(username):
            raise ProtocolError(ErrorCode.USERNAME_TAKEN, f"the name {username!r} is taken")
        password_hash = await self._hashing.hash(password)
        try:
            user = await self._store.create_user(username, password_hash, utc_now())
        except UsernameTaken:
            raise ProtocolError(ErrorCode.USERNAME_TAKEN, f"the name {username!r} is taken") from None
        return user

    async def check_strength(self, password: str, username: str) -> None:
        """``weak_password`` with zxcvbn's advice if the password scores below the minimum (the
        measure runs in the password executor: it is CPU work)."""
        if self._min_score == 0:
            return  # every password scores 0 or more: nothing to measure
        strength = await self._hashing.compute(measure, password, (username,))
        reason = too_weak(strength, self._min_score)
        if reason is not None:
            raise ProtocolError(ErrorCode.WEAK_PASSWORD, reason)

    async def change_password(self, username: str, old: str, new: str, address: str) -> UserRecord:
        """Replace the password of ``username`` (a signed-in user) once ``old`` is proven.

        ``old`` is checked like a login: the same throttles, and ``auth_failed`` when wrong. ``new``
        must follow the rules, differ from ``old`` and be strong enough; it is hashed in the
        password executor and stored.
        """
        check_password(username, new)
        if new == old:
            raise ProtocolError(ErrorCode.WEAK_PASSWORD, "the new password must differ from the old one")
        attempt = await self._reserve_login(username, address)
        verdict: bool | None = None
        try:
            user, verdict = await self._check_password(username, old)
        finally:
            await self._logins.settle(attempt, verdict)
        if not verdict:
            activity.record("passwd_failed", user=username, addr=address)
            raise ProtocolError(ErrorCode.AUTH_FAILED, "wrong password")
        assert user is not None
        await self.check_strength(new, username)
        await self._store.set_password_hash(user.id, await self._hashing.hash(new))
        return user

    async def login(self, username: str, password: str, address: str) -> UserRecord:
        attempt = await self._reserve_login(username, address)
        verdict: bool | None = None  # None: no verdict (an error), so the attempt is not counted
        try:
            user, verdict = await self._check_password(username, password)
        finally:
            await self._logins.settle(attempt, verdict)
        if not verdict:
            activity.record("login_failed", user=username[:64], addr=address)
            raise ProtocolError(ErrorCode.AUTH_FAILED, "wrong username or password")
        assert user is not None
        self.check_not_suspended(user.id, address)
        if self._hashing.needs_rehash(user.password_hash):
            # Parameters were raised since this hash was made: upgrade it while we know the password.
            await self._store.set_password_hash(user.id, await self._hashing.hash(password))
            activity.record("password_rehashed", user=user.username)
        return user

    async def _check_password(self, username: str, password: str) -> tuple[UserRecord | None, bool]:
        """The user and whether the password is theirs; an unknown user costs a verification too."""
        user = await self._store.find_user(username) if len(username) <= 64 else None
        if user is None:
            await self._hashing.verify_dummy(password)
            ok = False
        else:
            ok = await self._hashing.verify(user.password_hash, password)
        return user, ok

    async def _reserve_login(self, username: str, address: str) -> Attempt:
        """Count the attempt against its address and account before the hash, or refuse it
        (an account blocked by failures still lets an attempt from a clean address through:
        :class:`~chatapp.server.throttles.LoginThrottle`)."""
        attempt = await self._logins.reserve(address_key(address), username_key(username)[:64])
        if isinstance(attempt, float):
            activity.record("login_throttled", user=username[:64], addr=address)
            raise _rate_limited(attempt)
        return attempt

    async def check_token(self, token: str, address: str) -> SignedIn:
        """Find the session a resume token belongs to (without re-opening it yet)."""
        wait = await self._logins.blocked(address_key(address))
        if wait:
            raise _rate_limited(wait)
        found = await self._store.find_session(token_digest(token)) if len(token) <= TOKEN_MAX else None
        if found is not None:
            # A suspension revoked the token: its holder is told why, not just that it has ended.
            self.check_not_suspended(found[1].id, address)
        if found is None or found[0].expires_at <= utc_now():
            # Not reserved: a token cannot be guessed, so a burst gains nothing; the count only
            # bounds what garbage costs (and a reconnect storm from one address is not held up).
            await self._logins.failed(address_key(address))
            activity.record("resume_failed", addr=address)
            raise ProtocolError(ErrorCode.INVALID_TOKEN, "that session has expired or ended; log in again")
        session, user = found
        return SignedIn(user.id, user.username, user.role, session.id, None)

    def check_not_suspended(self, user_id: int, address: str) -> None:
        """Refuse a sign-in of a suspended account (its credentials checked already): ``suspended``,
        saying by whom, until when and why."""
        suspension = self._suspensions.get(user_id, utc_now())
        if suspension is None:
            return
        activity.record("suspended_refused", user=suspension.username, addr=address)
        raise ProtocolError(
            ErrorCode.SUSPENDED,
            f"this account is {described(suspension, 'suspended')}",
            until=until_of(suspension),
        )
