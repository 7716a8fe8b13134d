"""The asynchronous part of end-to-end encryption: a :class:`ChatSession` whose direct messages are sealed.

:class:`E2eSession` is a :class:`~chatapp.client.net.session.ChatSession`;
after signing in, :meth:`E2eSession.start_e2e` gives it an unlocked
:class:`~.vault.Vault` and it:

- publishes the device's keys (which registers the device) and keeps its
  one-time keys topped up;
- reads the session's events in a task of its own, takes the answers to its
  own requests (``devices``, ``claim_key``, ``publish_keys``, ``delete_device``)
  out of them by ``ref``, and hands every other event on in order, after
  opening each encrypted ``direct`` (live, replayed, or in a history page):
  the text comes out in place of the empty one, or an :class:`~.events.Unreadable`
  notice comes first;
- seals each direct message (:meth:`send_direct`) for every device of the
  recipient and this user's other devices, claiming one-time keys for those
  it has no session with, one message at a time and in order.

The vault is blocking (SQLite, argon2), so each call goes to a thread, one at
a time. Without :meth:`start_e2e` (no password, another client holds the
device) it is a plain :class:`ChatSession`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from chatapp.protocol import (
    ClientFrame,
    DeviceInfo,
    Direct,
    Error,
    ErrorCode,
    HistoryPage,
)
from chatapp.protocol.e2e_frames import (
    ClaimedKey,
    DeviceDeleted,
    DeviceList,
    KeysPublished,
)

from ..net.errors import SendRefused
from ..net.events import E2eNote, LinkUp, Outgoing, SessionEvent, Unreadable
from ..net.session import ChatSession
from . import commands
from .device import ONE_TIME_KEYS_TARGET
from .devices import DeviceDirectory
from .envelope import NOTICES
from .filekey import FileKey
from .sender import Sender
from .store import Body
from .vault import Vault

log = logging.getLogger("chatapp.client.e2e")

T = TypeVar("T")
TOP_UP_EVERY = 10
"""One-time keys used up by others' new sessions before asking the server how many it still holds."""
CLOSE_GRACE = 3.0
"""Seconds closing waits for the layer's own work before cutting it off."""
NOT_NOW = "could not be opened now: the sender's devices could not be fetched to check it; try /history later"
PUBLISH_OVERHEAD = 700
BYTES_PER_KEY = 80
"""A ``publish_keys`` frame's size without its one-time keys, and per key (``{"key_id":…,"key":…}``)."""
ANSWERS = (DeviceList, ClaimedKey, KeysPublished, DeviceDeleted)


class RequestRefused(Exception):
    """The server answered one of the layer's requests with an ``error``."""

    def __init__(self, error: Error) -> None:
        super().__init__(error.code)
        self.error = error


class E2eSession(ChatSession):
    """See the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.vault: Vault | None = None
        self.plain: set[str] = set()
        """Conversations (lower-case names) where ``/plain on`` sends in clear."""
        self.devices = DeviceDirectory(self)
        self.sender = Sender(self)
        self._out: asyncio.Queue[SessionEvent] = asyncio.Queue()
        self._waiting: dict[int, asyncio.Future[object]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._vault_lock = asyncio.Lock()
        self._tasks: set[asyncio.Future[None]] = set()
        self._publishing = False
        self._keys_checked = 0
        self.top_up_every = TOP_UP_EVERY
        self.keys_on_server: int | None = None
        """How many one-time keys the server said it holds for this device, at the last publish."""
        self.verified: set[str] = set()
        """Users (lower case) verified with ``/verify``, for the status bar."""
        self.shown_safety: dict[str, list[DeviceInfo]] = {}
        """The devices of each user whose safety number ``/verify NAME`` showed last."""
        self.files.encrypts_for = lambda to: self.vault is not None and to.lower() not in self.plain

    async def __aenter__(self) -> E2eSession:
        return self

    # -- starting and stopping ------------------------------------------------------------------------

    @property
    def encrypting(self) -> bool:
        return self.vault is not None

    async def start_e2e(self, vault: Vault, timeout: float = 10.0) -> None:
        """Use ``vault`` from now on: open and seal direct messages; returns once its keys are published
        (or ``timeout`` passed), so that even a script that sends nothing registers its device."""
        self.vault = vault
        self.verified = await self.in_vault(lambda v: v.store.verified_users())
        self._ensure_reader()
        published = asyncio.ensure_future(self._guarded(self.publish_keys()))
        self._tasks.add(published)
        published.add_done_callback(self._tasks.discard)
        await asyncio.wait([published], timeout=timeout)

    def _ensure_reader(self) -> None:
        if self._reader is None:
            self._reader = asyncio.create_task(self._read(), name="chatapp-client-e2e")

    def spawn(self, work: Any) -> None:
        task: asyncio.Future[None] = asyncio.ensure_future(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, work: Any) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the end-to-end layer failed")
            self.emit(E2eNote("Something went wrong in end-to-end encryption (details in the log).",
                              level="error"))

    async def aclose(self) -> None:
        if self._tasks:  # let work on the device finish (a re-wrap after /passwd, a message being sealed)
            await asyncio.wait(list(self._tasks), timeout=CLOSE_GRACE)
        for task in [*self._tasks, *([self._reader] if self._reader else [])]:
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._reader] if self._reader else []), return_exceptions=True)
        await super().aclose()
        if self.vault is not None:
            vault, self.vault = self.vault, None
            async with self._vault_lock:
                await asyncio.to_thread(vault.close)

    # -- the vault, in a thread -----------------------------------------------------------------------

    async def in_vault(self, work: Callable[[Vault], T]) -> T:
        vault = self.vault
        if vault is None:
            raise SendRefused("end-to-end encryption is off")
        async with self._vault_lock:
            # The thread cannot be stopped: a cancelled caller still waits for it, holding the lock,
            # so that nothing (closing the vault above all) touches the device while it runs.
            running = asyncio.ensure_future(asyncio.to_thread(work, vault))
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                await asyncio.wait([running])
                raise

    # -- requests of the layer ------------------------------------------------------------------------

    async def ask(self, build: Callable[[int], ClientFrame], timeout: float = 30.0) -> object:
        """Send a request of the layer; its answer, or :class:`RequestRefused`, or ``SendRefused``."""
        await self.wait_online(timeout)
        ref = self.request(build)
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._waiting[ref] = future
        try:
            answer = await asyncio.wait_for(future, timeout)
        finally:
            self._waiting.pop(ref, None)
        if isinstance(answer, Error):
            raise RequestRefused(answer)
        return answer

    async def wait_online(self, timeout: float) -> None:
        """Return once signed in on a connection (messages typed offline are sealed after the resume)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.online:
            if self.ended is not None:
                raise SendRefused("the session is over")
            if loop.time() > deadline:
                raise SendRefused("not connected")
            await asyncio.sleep(0.05)

    def _top_up_if_used(self) -> None:
        """Every :attr:`top_up_every` one-time keys used up here, publish again: the answer says how many
        the server still holds, and the supply is filled up when it is below half."""
        vault = self.vault
        if vault is None or vault.keys_used < self._keys_checked + self.top_up_every or self._publishing:
            return
        self._keys_checked = vault.keys_used
        self.spawn(self.publish_keys())

    async def publish_keys(self) -> None:
        """Register the device (first time) and hand over its unpublished keys; top up while short."""
        self._publishing = True
        try:
            await self._publish_keys()
        finally:
            self._publishing = False

    async def _publish_keys(self) -> None:
        max_frame = self.welcome.max_frame if self.welcome is not None else 65536
        batch = max(1, min(ONE_TIME_KEYS_TARGET, (max_frame - PUBLISH_OVERHEAD) // BYTES_PER_KEY))
        while self.vault is not None:
            device = self.vault.device
            try:
                await self.in_vault(lambda v: v.save_account())
                answer = await self.ask(functools.partial(device.publish_frame, batch=batch))
            except RequestRefused as exc:
                if exc.error.code == ErrorCode.UNKNOWN_TYPE:
                    await self._encryption_off()
                self.emit(E2eNote(_publish_refusal(exc.error), level="error"))
                return
            except (SendRefused, TimeoutError):
                return  # published again at the next sign-in
            assert isinstance(answer, KeysPublished)
            device.mark_published()
            self.keys_on_server = answer.one_time_keys
            more = device.top_up(answer.one_time_keys, batch)
            await self.in_vault(lambda v: v.save_account())
            if not more:
                return

    async def _encryption_off(self) -> None:
        """The server does not know the key frames: direct messages go in clear (marked) this run."""
        vault = self.vault
        if vault is not None:
            async with self._vault_lock:
                self.vault = None
                await asyncio.to_thread(vault.close)

    # -- out ------------------------------------------------------------------------------------------

    @property
    def outbox(self) -> tuple[Outgoing, ...]:
        """Messages not yet acknowledged, those still being sealed first."""
        return self.sender.preparing + self.core.outbox

    def send_direct(self, text: str, to: str, file: str | None = None, *, action: bool = False) -> Outgoing:
        """Seal the message for every device of ``to`` and one's own others (or send it in clear, see
        :meth:`send_plain`); returns at once, the sealing goes on in a task. An action's flag
        (``/me``) is sealed inside the message. With ``file`` (an uploaded file's id) the key of that
        file, if it was encrypted (``files.sealed``), is sealed in with it."""
        if self.vault is None or to.lower() in self.plain:
            return super().send_direct(text, to, file, action=action)
        return self.sender.send(text, to, file, action=action)

    # -- the commands (ui.e2ecommands) -----------------------------------------------------------------

    def status(self, peer: str) -> str:
        """What the status bar says of a conversation: ``e2e``, ``e2e verified`` or ``plain``."""
        if self.vault is None or peer.lower() in self.plain or self.devices.cached(peer) == []:
            return "plain"
        return "e2e verified" if peer.lower() in self.verified else "e2e"

    def verify(self, name: str, confirm: bool) -> None:
        self.spawn(commands.verify(self, name, confirm))

    def trust_devices(self, name: str) -> None:
        self.spawn(commands.trust(self, name))

    def list_devices(self) -> None:
        self.spawn(commands.list_devices(self))

    def remove_device(self, device: str) -> None:
        self.spawn(commands.remove_device(self, device))

    def rewrap(self, password: str) -> None:
        """The password changed: wrap the device's key under the new one."""
        self.spawn(self.in_vault(lambda v: v.rewrap(password)))

    def send_plain(self, text: str, to: str, *, action: bool = False) -> Outgoing:
        """A direct message in clear (``/plain``), even when encryption is on."""
        return super().send_direct(text, to, action=action)

    def emit(self, event: SessionEvent) -> None:
        """An event of the layer itself, among the session's."""
        self._out.put_nowait(event)

    # -- in -------------------------------------------------------------------------------------------

    async def next_event(self) -> SessionEvent:
        self._ensure_reader()
        return await self._out.get()

    async def _read(self) -> None:
        """Take the layer's answers out of the session's events; open encrypted messages; pass the rest on."""
        pending: asyncio.Queue[SessionEvent] = asyncio.Queue()
        opener = asyncio.create_task(self._open_in_order(pending))
        try:
            while True:
                event = await super().next_event()
                ref = getattr(event, "ref", None)
                if isinstance(ref, int) and ref in self._waiting and isinstance(event, (*ANSWERS, Error)):
                    future = self._waiting.pop(ref)
                    if not future.done():
                        future.set_result(event)
                    continue
                if isinstance(event, LinkUp) and self.vault is not None:
                    self.devices.forget()
                pending.put_nowait(event)
        finally:
            opener.cancel()

    async def _open_in_order(self, pending: asyncio.Queue[SessionEvent]) -> None:
        while True:
            event = await pending.get()
            try:
                for shown in await self._open(event):
                    self._out.put_nowait(shown)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not open %r", type(event).__name__)
                self._out.put_nowait(event)

    async def _open(self, event: SessionEvent) -> list[SessionEvent]:
        if self.vault is None:
            return [event]
        if isinstance(event, Direct):
            direct, notices = await self._open_direct(event)
            return [Unreadable(notices), direct] if notices else [direct]
        if isinstance(event, HistoryPage) and event.with_ is not None:
            messages: list[Any] = []
            all_notices: dict[int, str] = {}
            for message in event.messages:
                if isinstance(message, Direct):
                    message, notices = await self._open_direct(message)
                    all_notices.update(notices)
                messages.append(message)
            page = msgspec.structs.replace(event, messages=messages)
            return [Unreadable(all_notices), page] if all_notices else [page]
        return [event]

    async def _open_direct(self, direct: Direct) -> tuple[Direct, dict[int, str]]:
        """The message with its plaintext as ``text``, or with notices (by id) of why not."""
        if direct.removed_by is not None:
            return direct, {}
        body: Body | None = await self.in_vault(lambda v: v.known(direct))
        if body is None and direct.e2e is not None:
            try:
                senders = await self.devices.of(direct.sender, needed=direct.e2e.device)
            except (RequestRefused, SendRefused, TimeoutError):
                # Not opened, so not stored: the next look (history, a restart) tries again.
                return direct, {direct.id: NOT_NOW}
            body = await self.in_vault(lambda v: v.open(direct, senders))
            self._top_up_if_used()
        if body is None:
            return direct, {}
        if body.text is not None:
            shown = msgspec.structs.replace(direct, text=body.text, action=body.action)
            return self._with_file(shown, body.file), {}
        return direct, {direct.id: NOTICES.get(body.problem or "", "not readable here")}

    def _with_file(self, direct: Direct, key: FileKey | None) -> Direct:
        """An encrypted file's real name and type shown (from the payload), its key kept for /download."""
        if direct.file is None or not direct.file.encrypted or key is None:
            return direct
        self.files.keys[direct.file.id] = key
        shown = msgspec.structs.replace(direct.file, name=key.name or direct.file.name, mime=key.mime)
        return msgspec.structs.replace(direct, file=shown)


def _publish_refusal(error: Error) -> str:
    if error.code == "too_many_devices":
        return ("This device could not be registered: your account has the most devices it may have. "
                "/devices lists them and /devices remove ID removes one; until then messages to you "
                "are not encrypted for this device.")
    if error.code == ErrorCode.UNKNOWN_TYPE:
        return ("This server does not support end-to-end encryption: direct messages are sent in clear "
                "(the server can read them), marked [plain].")
    if error.code == "device_conflict":
        return "The server already knows this device with other keys; encrypted messages cannot be read here."
    return f"The server did not take this device's keys ({error.code}); encrypted messages may not reach it."
