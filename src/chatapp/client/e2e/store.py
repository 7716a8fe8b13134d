"""The local store of one device: a SQLite file in the client's data directory. Blocking; call it in a thread.

One directory per server, user and device (``e2e/HOST_PORT/USER/`` under the
data directory), mode 0700, holding ``device.db`` (mode 0600) and
``device.lock``. The database holds:

- ``meta``: the device id, the wrapped pickle key (:mod:`.protect`), the
  account's pickle (encrypted by vodozemac with the pickle key), when the
  device was made;
- ``sessions``: each Olm session's pickle (encrypted the same way), by the other device's key;
- ``messages``: the plaintext of each encrypted message this device read or
  sent, by message id, and ``pending``: what it sent, by nonce, until the
  server's copy gives the id; each body sealed with AES-256-GCM under a key
  derived from the pickle key, bound to its id;
- ``trusted``: the devices of each user that the user verified (``/verify``)
  or accepted (``/trust``), and those seen so far.

A lock (``flock`` on ``device.lock``, held while the store is open) keeps two
clients from using one device at once: their ratchets would interleave and
lose messages. The second is told (:class:`StoreLocked`) and runs without encryption.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import msgspec

from .filekey import FileKey
from .protect import Keys, WrappedKey, seal, unseal

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY, curve25519 TEXT NOT NULL, pickle TEXT NOT NULL, seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS pending (nonce TEXT PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS trusted (
    username TEXT NOT NULL, device TEXT NOT NULL, ed25519 TEXT NOT NULL, verified INTEGER NOT NULL,
    PRIMARY KEY (username, device)
);
"""


class StoreLocked(Exception):
    """Another client holds this device's lock."""


class Body(msgspec.Struct, frozen=True, omit_defaults=True):
    """A stored message: its text, or the notice shown instead."""

    text: str | None = None
    problem: str | None = None
    action: bool = False
    """An action message (``/me``); stored bodies from before the flag read as plain ones."""
    file: FileKey | None = None
    """What opens the encrypted file the message shares (from its payload)."""


def device_dir(base: Path, host: str, port: int, username: str) -> Path:
    """Where one user's device for one server lives under the data directory ``base``."""
    server = re.sub(r"[^A-Za-z0-9.-]", "_", f"{host}_{port}")
    return base / "e2e" / server / username.lower()


class DeviceStore:
    """The open store of one device (see the module docstring); holds its lock until :meth:`close`."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        self.directory = directory
        self._lock: IO[bytes] | None = open(directory / "device.lock", "ab")  # noqa: SIM115 (held open)
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            self._lock = None
            raise StoreLocked(f"another chatapp-client is using the device in {directory}") from None
        path = directory / "device.db"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(SCHEMA)
        self.keys: Keys | None = None

    def close(self) -> None:
        self._db.close()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- the device ---------------------------------------------------------------------------------

    def meta(self, key: str) -> bytes | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row is not None else None

    def wrapped_key(self) -> WrappedKey | None:
        raw = self.meta("wrapped_key")
        return msgspec.msgpack.decode(raw, type=WrappedKey) if raw is not None else None

    def save_wrapped_key(self, wrapped: WrappedKey) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('wrapped_key', ?)",
                       (msgspec.msgpack.encode(wrapped),))

    def create(self, device_id: str, wrapped: WrappedKey, account_pickle: str, created: str) -> None:
        """A new device: everything of the previous one (if any) is dropped, in one transaction."""
        with self._transaction() as db:
            for table in ("meta", "sessions", "messages", "pending", "trusted"):
                db.execute(f"DELETE FROM {table}")  # noqa: S608 (fixed names)
            db.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("device_id", device_id.encode()), ("wrapped_key", msgspec.msgpack.encode(wrapped)),
                ("account", account_pickle.encode()), ("created", created.encode()),
            ])

    def save_account(self, account_pickle: str) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('account', ?)", (account_pickle.encode(),))

    def sessions(self) -> list[tuple[str, str]]:
        """``(curve25519, pickle)`` of every session, oldest first."""
        return [(row[0], row[1]) for row in self._db.execute(
            "SELECT curve25519, pickle FROM sessions ORDER BY seq")]

    # -- one change, whole --------------------------------------------------------------------------

    def commit(
        self, *, account: str | None = None, sessions: Sequence[tuple[str, str, str]] = (),
        message: tuple[int, Body] | None = None, pending: tuple[str, Body] | None = None,
    ) -> None:
        """Persist in one transaction: the account, sessions ``(id, key, pickle)``, a message, a sent one."""
        with self._transaction() as db:
            if account is not None:
                db.execute("INSERT OR REPLACE INTO meta VALUES ('account', ?)", (account.encode(),))
            for session_id, curve, pickled in sessions:
                seq = db.execute("SELECT coalesce(max(seq), 0) + 1 FROM sessions").fetchone()[0]
                db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?)",
                           (session_id, curve, pickled, seq))
            if message is not None:
                db.execute("INSERT OR REPLACE INTO messages VALUES (?, ?)",
                           (message[0], self._seal(f"id:{message[0]}", message[1])))
            if pending is not None:
                db.execute("INSERT OR REPLACE INTO pending VALUES (?, ?)",
                           (pending[0], self._seal(f"nonce:{pending[0]}", pending[1])))

    def acknowledge(self, nonce: str, message_id: int) -> Body | None:
        """What was sent with ``nonce``, now stored under the id the server gave it."""
        row = self._db.execute("SELECT body FROM pending WHERE nonce = ?", (nonce,)).fetchone()
        if row is None:
            return None
        body = self._unseal(f"nonce:{nonce}", bytes(row[0]))
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO messages VALUES (?, ?)",
                       (message_id, self._seal(f"id:{message_id}", body)))
            db.execute("DELETE FROM pending WHERE nonce = ?", (nonce,))
        return body

    def message(self, message_id: int) -> Body | None:
        row = self._db.execute("SELECT body FROM messages WHERE id = ?", (message_id,)).fetchone()
        return self._unseal(f"id:{message_id}", bytes(row[0])) if row is not None else None

    # -- trust --------------------------------------------------------------------------------------

    def trusted(self, username: str) -> tuple[dict[str, str], bool]:
        """The devices of ``username`` known here (id to Ed25519 key), and whether the user is verified."""
        rows = self._db.execute("SELECT device, ed25519, verified FROM trusted WHERE username = ?",
                                (username.lower(),)).fetchall()
        return {row[0]: row[1] for row in rows}, any(row[2] for row in rows)

    def verified_users(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT DISTINCT username FROM trusted WHERE verified")}

    def set_trusted(self, username: str, devices: dict[str, str], *, verified: bool) -> None:
        """Replace what is known of ``username``'s devices (``/verify``, ``/trust``, or first seen)."""
        with self._transaction() as db:
            db.execute("DELETE FROM trusted WHERE username = ?", (username.lower(),))
            rows = [(username.lower(), device, key, int(verified)) for device, key in devices.items()]
            db.executemany("INSERT INTO trusted VALUES (?, ?, ?, ?)", rows)

    # -- bodies at rest -----------------------------------------------------------------------------

    def _seal(self, where: str, body: Body) -> bytes:
        assert self.keys is not None, "the store is not unlocked"
        return seal(self.keys.store, msgspec.msgpack.encode(body), where.encode())

    def _unseal(self, where: str, blob: bytes) -> Body:
        assert self.keys is not None, "the store is not unlocked"
        return msgspec.msgpack.decode(unseal(self.keys.store, blob, where.encode()), type=Body)
