"""One device's keys, sessions and store together: open it, seal and open messages. Blocking (argon2, SQLite).

The asynchronous part (:mod:`.agent`) calls these in a thread, one at a
time. Every change to the account or a session is written in the same
transaction as the message it concerns, before that message is shown or sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import vodozemac

from chatapp.protocol import DeviceInfo, Direct, Envelope

from .device import Device
from .envelope import Recipient, open_direct, seal
from .filekey import FileKey
from .olm import SessionBook
from .protect import Keys, WrongPassword, keys_from, new_pickle_key, unwrap, wrap
from .store import Body, DeviceStore


def _parse(ts: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


class Vault:
    """An unlocked device: see the module docstring. Close it to release the device's lock."""

    def __init__(self, store: DeviceStore, device: Device, keys: Keys, created: datetime | None) -> None:
        self.store = store
        self.device = device
        self.keys = keys
        self.created = created
        self.book = SessionBook()
        self.keys_used = 0
        """One-time keys used up by inbound sessions since unlocking: the supply may need topping up."""
        for curve, pickled in store.sessions():
            self.book.add(curve, vodozemac.Session.from_pickle(pickled, keys.pickle))

    # -- opening -------------------------------------------------------------------------------------

    @classmethod
    def unlock(cls, directory: Path, username: str, password: str, *, new_device: bool = False,
             previous_password: str | None = None) -> Vault:
        """Unlock the device in ``directory`` with ``password`` (made there if there is none).

        :class:`WrongPassword` when the password does not unlock it (the file is
        left alone): try again with ``previous_password`` (then it is wrapped
        under ``password`` from now on), or ``new_device`` replaces it.
        :class:`~.store.StoreLocked` when another client uses it.
        """
        store = DeviceStore(directory)
        try:
            wrapped = store.wrapped_key()
            device_id = store.meta("device_id")
            if wrapped is None or device_id is None or new_device:
                return cls._create(store, username, password)
            pickle_key = unwrap(wrapped, previous_password if previous_password is not None else password)
            keys = keys_from(pickle_key)
            store.keys = keys
            if previous_password is not None:
                store.save_wrapped_key(wrap(pickle_key, password))
            account_pickle = store.meta("account")
            assert account_pickle is not None
            account = vodozemac.Account.from_pickle(account_pickle.decode(), pickle_key)
            created = store.meta("created")
            device = Device(username, device_id.decode(), account)
            return cls(store, device, keys, _parse(created.decode()) if created else None)
        except BaseException:
            store.close()
            raise

    @classmethod
    def _create(cls, store: DeviceStore, username: str, password: str) -> Vault:
        pickle_key = new_pickle_key()
        keys = keys_from(pickle_key)
        store.keys = keys
        device = Device.create(username)
        created = datetime.now(UTC)
        store.create(device.device_id, wrap(pickle_key, password), device.account.pickle(pickle_key),
                     created.isoformat())
        return cls(store, device, keys, created)

    def close(self) -> None:
        self.store.close()

    def rewrap(self, password: str) -> None:
        """``/passwd``: wrap the same pickle key under the new password."""
        self.store.save_wrapped_key(wrap(self.keys.pickle, password))

    def save_account(self) -> None:
        self.store.save_account(self.device.account.pickle(self.keys.pickle))

    # -- messages ------------------------------------------------------------------------------------

    def has_session(self, curve25519: str) -> bool:
        return self.book.has(curve25519)

    def seal(self, text: str, to: str, recipients: list[Recipient], claimed: dict[str, str],
             nonce: str, file: FileKey | None = None, *, action: bool = False) -> Envelope:
        """Encrypt ``text`` (and ``file``'s key) for ``recipients``; the sessions and the plaintext (by
        nonce) are stored first."""
        envelope, changed = seal(self.device, self.book, text, to, recipients, claimed, file, action=action)
        pickled = [(s.session_id, key, s.pickle(self.keys.pickle)) for key, s in changed]
        self.store.commit(account=self.device.account.pickle(self.keys.pickle), sessions=pickled,
                          pending=(nonce, Body(text=text, action=action, file=file)))
        return envelope

    def stored(self, message_id: int) -> Body | None:
        return self.store.message(message_id)

    def known(self, direct: Direct) -> Body | None:
        """What this device has of ``direct`` already: opened before, or sent from here (by its nonce)."""
        known = self.store.message(direct.id)
        if known is not None:
            return known
        if direct.nonce is not None and direct.sender.lower() == self.device.username:
            return self.store.acknowledge(direct.nonce, direct.id)
        return None

    def open(self, direct: Direct, sender_devices: list[DeviceInfo]) -> Body | None:
        """The text of an encrypted ``direct`` (or why not), decrypted once and stored; None if plain."""
        known = self.known(direct)
        if known is not None or direct.e2e is None:
            return known
        opened = open_direct(direct, self.device, self.book, sender_devices,
                             device_added=self.created, sent=_parse(direct.ts))
        body = Body(text=opened.text, problem=opened.problem, action=opened.action, file=opened.file)
        pickled = [(s.session_id, key, s.pickle(self.keys.pickle)) for key, s in opened.sessions]
        account = self.device.account.pickle(self.keys.pickle) if opened.account_changed else None
        self.keys_used += int(opened.account_changed)
        self.store.commit(account=account, sessions=pickled, message=(direct.id, body))
        return body


__all__ = ["Vault", "WrongPassword"]
