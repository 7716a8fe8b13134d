"""The question answered from the database alone, when no server is running.

It goes to the same administration service the server's handlers use
(:class:`~chatapp.server.services.administration.Administration`), as the
console, without the parts of a running server (``live=None``): every change
is stored, with its audit event, and a server started later loads it. The
schema is not migrated here: a database behind this version of chatapp is
the server's to upgrade when it starts.
"""

from __future__ import annotations

from chatapp.protocol import ClientFrame, Error, ProtocolError, ServerFrame
from chatapp.protocol.moderation_frames import Admin, ListAddressBans, ListUsers, ReadAudit, UserSessions
from chatapp.server.config import Config
from chatapp.server.console import CONSOLE_ADDRESS
from chatapp.server.passwords import PasswordHashing
from chatapp.server.services.administration import Administration
from chatapp.server.services.audit import AuditTrail
from chatapp.server.services.staff import Actor
from chatapp.server.store import Store, StoreError
from chatapp.server.store.engine import is_sqlite, sqlite_file


class OfflineFailure(Exception):
    """The database could not be used; the message is one line."""


async def answer(database_url: str, frame: ClientFrame) -> ServerFrame:
    """What the server would answer to ``frame`` from the console, acting on the database."""
    database = sqlite_file(database_url) if is_sqlite(database_url) else None
    if database is not None and not database.exists():
        # Opening it would make an empty database there: a mistyped path says so instead.
        raise OfflineFailure(f"there is no database at {database} (give --database-url)")
    try:
        store = await Store.open(database_url, migrate=False)
    except StoreError as error:
        raise OfflineFailure(" ".join(str(error).split())) from None
    config = Config(database_url=database_url)
    hashing = PasswordHashing(
        memory_kib=config.argon2_memory_kib,
        time_cost=config.argon2_time_cost,
        parallelism=config.argon2_parallelism,
        workers=1,
    )
    try:
        await hashing.start()
        administration = Administration(config, store, AuditTrail(store), hashing)
        try:
            return await _perform(administration, Actor.console(CONSOLE_ADDRESS), frame)
        except ProtocolError as error:
            return Error(code=error.code.value, message=error.message, ref=frame.ref)
    finally:
        hashing.close()
        await store.close()


async def _perform(administration: Administration, actor: Actor, frame: ClientFrame) -> ServerFrame:
    if isinstance(frame, Admin):
        return await administration.perform(actor, frame)
    if isinstance(frame, ListUsers):
        return await administration.users(
            actor, query=frame.query, after=frame.after, limit=frame.limit, ref=frame.ref
        )
    if isinstance(frame, UserSessions):
        return await administration.user_sessions(actor, frame.user, ref=frame.ref)
    if isinstance(frame, ListAddressBans):
        return await administration.address_bans(actor, ref=frame.ref)
    if isinstance(frame, ReadAudit):
        return await administration.audit(actor, before=frame.before, limit=frame.limit, ref=frame.ref)
    raise OfflineFailure(f"{frame.__struct_config__.tag!r} needs a running server")
