"""Accounts and sessions: register, log in, resume, end.

Answers never tell an attacker more than they must: a failed login is
``auth_failed`` whether or not the account exists, and both cases cost one
argon2 verification. Failed logins are throttled per address and per account
with escalating delays (never a permanent lock). Tokens are 256 random bits;
only their SHA-256 is stored, so a leaked database cannot resume anyone.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from chatapp.clock import monotonic, utc_now
from chatapp.protocol import ErrorCode, ProtocolError
from chatapp.protocol.limits import TOKEN_MAX
from chatapp.protocol.rules import check_password, check_username, username_key
from chatapp.server import activity
from chatapp.server.config import Config
from chatapp.server.passwords import PasswordHashing
from chatapp.server.ratelimit import FailureThrottle, WindowCounter
from chatapp.server.store import Store, UsernameTaken, UserRecord


@dataclass(frozen=True, slots=True)
class SignedIn:
    """Who a connection is, once authenticated."""

    user_id: int
    username: str
    role: str
    session_id: int
    token: str | None
    """The resume token, set when this sign-in created it (login, register)."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _rate_limited(retry_after: float) -> ProtocolError:
    seconds = max(1, round(retry_after + 0.5))
    return ProtocolError(
        ErrorCode.RATE_LIMITED,
        f"too many attempts; try again in {seconds} s",
        retry_after=float(seconds),
    )


class Authenticator:
    def __init__(
        self, config: Config, store: Store, hashing: PasswordHashing, clock: Callable[[], float] = monotonic
    ) -> None:
        self._config = config
        self._store = store
        self._hashing = hashing
        self._clock = clock
        self._by_account = FailureThrottle(
            config.login_failures_per_account, max_delay=config.login_delay_max
        )
        self._by_address = FailureThrottle(
            config.login_failures_per_address, max_delay=config.login_delay_max
        )
        self._registrations = WindowCounter(config.registrations_per_address, 3600.0)

    async def register(self, username: str, password: str, address: str) -> UserRecord:
        check_username(username)
        check_password(username, password)
        now = self._clock()
        wait = self._registrations.retry_after(address, now)
        if wait:
            raise _rate_limited(wait)
        if await self._store.find_user(username) is not None:
            raise ProtocolError(ErrorCode.USERNAME_TAKEN, f"the name {username!r} is taken")
        password_hash = await self._hashing.hash(password)
        try:
            user = await self._store.create_user(username, password_hash, utc_now())
        except UsernameTaken:
            raise ProtocolError(ErrorCode.USERNAME_TAKEN, f"the name {username!r} is taken") from None
        self._registrations.add(address, self._clock())
        activity.record("register", user=user.username, addr=address)
        return user

    async def login(self, username: str, password: str, address: str) -> UserRecord:
        key = username_key(username)[:64]
        now = self._clock()
        wait = max(self._by_address.retry_after(address, now), self._by_account.retry_after(key, now))
        if wait:
            activity.record("login_throttled", user=username[:64], addr=address)
            raise _rate_limited(wait)
        user = await self._store.find_user(username) if len(username) <= 64 else None
        if user is None:
            await self._hashing.verify_dummy(password)
            ok = False
        else:
            ok = await self._hashing.verify(user.password_hash, password)
        if not ok:
            now = self._clock()
            self._by_address.failed(address, now)
            self._by_account.failed(key, now)
            activity.record("login_failed", user=username[:64], addr=address)
            raise ProtocolError(ErrorCode.AUTH_FAILED, "wrong username or password")
        assert user is not None
        self._by_account.succeeded(key)
        if self._hashing.needs_rehash(user.password_hash):
            # Parameters were raised since this hash was made: upgrade it while we know the password.
            await self._store.set_password_hash(user.id, await self._hashing.hash(password))
            activity.record("password_rehashed", user=user.username)
        return user

    async def open_session(self, user: UserRecord, peer: str) -> tuple[SignedIn, dict[str, int], int]:
        """A new session for ``user``; with the user's rooms (name to id) and seen cursor, read in
        the same transaction."""
        token = secrets.token_urlsafe(32)
        now = utc_now()
        opened = await self._store.sign_in(
            user.id, token_digest(token), peer, now, now + timedelta(seconds=self._config.session_ttl)
        )
        signed = SignedIn(user.id, user.username, user.role, opened.session.id, token)
        return signed, {room.name: room.id for room in opened.rooms}, opened.seen_message_id

    async def check_token(self, token: str, address: str) -> SignedIn:
        """Find the session a resume token belongs to (without re-opening it yet)."""
        now = self._clock()
        wait = self._by_address.retry_after(address, now)
        if wait:
            raise _rate_limited(wait)
        found = await self._store.find_session(token_digest(token)) if len(token) <= TOKEN_MAX else None
        if found is None or found[0].expires_at <= utc_now():
            self._by_address.failed(address, self._clock())
            activity.record("resume_failed", addr=address)
            raise ProtocolError(ErrorCode.INVALID_TOKEN, "that session has expired or ended; log in again")
        session, user = found
        return SignedIn(user.id, user.username, user.role, session.id, None)

    async def reopen_session(self, signed: SignedIn, peer: str) -> dict[str, int]:
        """Re-open a resumed session; the user's rooms (name to id), read in the same transaction."""
        rooms = await self._store.reopen_session_with_rooms(signed.session_id, peer, utc_now())
        return {room.name: room.id for room in rooms}

    async def end_session(
        self, session_id: int, reason: str, *, revoke: bool, seen_message_id: int = 0
    ) -> None:
        """End the session; with ``seen_message_id``, record what its user was handed, in the same
        write (the store groups many connections' ends into one transaction)."""
        await self._store.end_session(
            session_id, reason, utc_now(), revoke=revoke, seen_message_id=seen_message_id
        )
