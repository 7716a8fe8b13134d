"""Pre-made accounts and sessions, so signing N clients in does not measure argon2.

The suite prepares one SQLite file with ``count`` users (each with an ended but
unrevoked session, whose token the driver resumes) and ``storm`` more users
whose hashes use the server's production argon2 parameters (for the login
storm). Every server run gets a fresh copy of that file.

The schema is created by :meth:`Store.open` (the server's own migrations);
the rows are then inserted in one transaction through the store's models,
because one :class:`Store` call per row (a transaction each) would take
seconds per thousand accounts. Where the schema has stored room memberships,
every user is made a member of the default room, as registration does.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher, Type
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from chatapp.protocol import DEFAULT_ROOM
from chatapp.protocol.rules import username_key
from chatapp.server.config import Config
from chatapp.server.services.credentials import token_digest
from chatapp.server.store import Store, create_engine, models
from chatapp.server.store.models import User, UserSession

PASSWORD = "benchmark password 1"


@dataclass(frozen=True, slots=True)
class Accounts:
    template: Path
    usernames: list[str]
    """Users with a resumable session, in the order of ``tokens``."""
    tokens: list[str]
    storm_usernames: list[str]
    """Users to log in with ``password`` (production argon2 hashes)."""
    password: str

    def copy_to(self, path: Path) -> Path:
        """A fresh copy of the prepared database for one server run."""
        shutil.copyfile(self.template, path)
        for suffix in ("-wal", "-shm"):
            extra = self.template.with_name(self.template.name + suffix)
            if extra.exists():
                shutil.copyfile(extra, path.with_name(path.name + suffix))
        return path


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


def production_hasher() -> PasswordHasher:
    """argon2id with the server's default (OWASP) parameters."""
    config = Config()
    return PasswordHasher(
        time_cost=config.argon2_time_cost,
        memory_cost=config.argon2_memory_kib,
        parallelism=config.argon2_parallelism,
        type=Type.ID,
    )


def prepare(path: Path, count: int, storm: int = 0, password: str = PASSWORD) -> Accounts:
    return asyncio.run(_prepare(path, count, storm, password))


SEEN_EVERYTHING = 2**62


async def _prepare(path: Path, count: int, storm: int, password: str) -> Accounts:
    url = sqlite_url(path)
    store = await Store.open(url, migrate=True)
    await store.close()
    password_hash = production_hasher().hash(password)
    now = datetime.now(UTC)
    usernames = [f"bench{i:05d}" for i in range(count)]
    storm_usernames = [f"storm{i:05d}" for i in range(storm)]
    tokens = [secrets.token_urlsafe(32) for _ in range(count)]
    users = [
        {
            "id": i + 1,
            "username": name,
            "username_key": username_key(name),
            "password_hash": password_hash,
            "created_at": now,
            # Storm users were here a moment ago: their logins measure signing in, not a
            # replay of everything the run has sent so far (workload (g) measures replay).
            "seen_message_id": SEEN_EVERYTHING if name.startswith("storm") else 0,
        }
        for i, name in enumerate(usernames + storm_usernames)
    ]
    sessions = [
        {
            "user_id": i + 1,
            "token_hash": token_digest(token),
            "peer": "127.0.0.1:0",
            "created_at": now,
            "last_seen_at": now,
            "expires_at": now + timedelta(days=1),
            "ended_at": now,
            "end_reason": "disconnect",
        }
        for i, token in enumerate(tokens)
    ]
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            if users:
                await conn.execute(insert(User), users)
            if sessions:
                await conn.execute(insert(UserSession), sessions)
            await _join_default_room(conn, len(users), now)
    finally:
        await engine.dispose()
    return Accounts(path, usernames, tokens, storm_usernames, password)


async def _join_default_room(conn: AsyncConnection, count: int, now: datetime) -> None:
    """Stored memberships (when the schema has them): everyone in the default room, as at registration."""
    room_model = getattr(models, "Room", None)
    membership = getattr(models, "Membership", None)
    if room_model is None or membership is None or not count:
        return
    room_id = await conn.scalar(select(room_model.id).where(room_model.name == DEFAULT_ROOM))
    if room_id is None:
        result = await conn.execute(insert(room_model).values(name=DEFAULT_ROOM, created_at=now))
        inserted = result.inserted_primary_key
        assert inserted is not None
        room_id = inserted[0]
    columns = set(membership.__table__.columns.keys())
    rows = []
    for user_id in range(1, count + 1):
        row: dict[str, object] = {"user_id": user_id, "room_id": room_id}
        for stamp in ("joined_at", "created_at"):
            if stamp in columns:
                row[stamp] = now
        rows.append(row)
    await conn.execute(insert(membership), rows)


TEST_ARGON2_ARGS: tuple[str, ...] = ("--argon2-memory-kib", "8", "--argon2-time-cost", "1")
"""Server flags for argon2 so cheap that signing in measures the server, not the hash."""


def test_hasher() -> PasswordHasher:
    """argon2id with the parameters of :data:`TEST_ARGON2_ARGS` (no rehash at login)."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=Type.ID)


@dataclass(frozen=True, slots=True)
class ChurnAccounts:
    template: Path
    usernames: list[str]
    tokens: list[str]
    churn_usernames: list[str]
    password: str
    last_id: int
    """The highest message id in the template: the clients resume from it."""

    def copy_to(self, path: Path) -> Path:
        return Accounts(self.template, [], [], [], self.password).copy_to(path)


def prepare_churn(
    path: Path, clients: int, churn: int, *, missed: int, live_rate: float, signin_rate: float
) -> ChurnAccounts:
    """Accounts for the churn workload: ``clients`` with resumable sessions, ``churn`` to log in.

    ``missed`` messages are stored in ``general`` first. The i-th churn account
    signs in ``i / signin_rate`` seconds into the run, when about ``live_rate``
    messages per second have been added since: its seen mark is set so that it
    missed about ``missed`` messages by then. Their hashes use
    :data:`TEST_ARGON2_ARGS`' parameters.
    """
    return asyncio.run(_prepare_churn(path, clients, churn, missed, live_rate, signin_rate))


async def _prepare_churn(
    path: Path, clients: int, churn: int, missed: int, live_rate: float, signin_rate: float
) -> ChurnAccounts:
    base = await _prepare(path, clients, 0, PASSWORD)
    cheap = test_hasher().hash(PASSWORD)
    now = datetime.now(UTC)
    names = [f"churn{i:05d}" for i in range(churn)]
    engine = create_engine(sqlite_url(path))
    try:
        async with engine.begin() as conn:
            room_id = await conn.scalar(select(models.Room.id).where(models.Room.name == DEFAULT_ROOM))
            await conn.execute(
                insert(models.Message),
                [
                    {"room_id": room_id, "sender_id": 1, "text": f"F{i:07d} backlog", "created_at": now}
                    for i in range(missed)
                ],
            )
            first = clients + 1
            await conn.execute(
                insert(User),
                [
                    {
                        "id": first + i,
                        "username": name,
                        "username_key": username_key(name),
                        "password_hash": cheap,
                        "created_at": now,
                        "seen_message_id": int(live_rate * i / signin_rate) if signin_rate else 0,
                    }
                    for i, name in enumerate(names)
                ],
            )
            await conn.execute(
                insert(models.Membership),
                [{"user_id": first + i, "room_id": room_id, "joined_at": now} for i in range(churn)],
            )
    finally:
        await engine.dispose()
    return ChurnAccounts(path, base.usernames, base.tokens, names, PASSWORD, missed)
