"""The control socket: a Unix socket on which ``chatapp-admin`` acts on the running server.

Only the server's operating-system user can connect (the socket is made with
mode 0600, and checked), so a connection is the server machine's operator: it
starts signed in as the console (:mod:`chatapp.server.console`) and speaks the
same protocol as a TCP client, from the ``welcome`` on, with no ``login``.

At start the path is looked at first: a socket that a server still answers on
is an error (two servers would fight over it, and chatapp-admin would reach
only one of them); a socket nobody answers (left by a server that crashed) is
replaced; anything else at that path is left alone and is an error too. The
socket file is removed at shutdown, if it is still ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import stat
from pathlib import Path

from chatapp.protocol import PROTOCOL_VERSION, ByeReason, Welcome
from chatapp.protocol.connection import FrameReceived, FrameRefused, ServerProtocol
from chatapp.server import activity
from chatapp.server.config import Config
from chatapp.server.console import CONSOLE_ADDRESS, console_refusal, open_console
from chatapp.server.dispatch import dispatch
from chatapp.server.services import Services
from chatapp.server.session import Peer

READ_CHUNK = 64 * 1024
SOCKET_MODE = 0o600
LIVENESS_TIMEOUT = 2.0
"""Seconds to wait for a server on an existing socket to take a connection (it accepts at once)."""


class ControlSocketError(Exception):
    """The control socket cannot be made; the message is one line for the operator."""


class ControlConnection:
    """chatapp-admin's connection; implements :class:`~chatapp.server.session.Link` for the core."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, services: Services
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._services = services
        config = self._config = services.config
        self._transport = writer.transport
        self.protocol = ServerProtocol(
            max_frame=config.max_frame,
            max_unauthenticated_frames=config.max_unauthenticated_frames,
            max_invalid_frames=config.max_invalid_frames,
        )
        self.peer = Peer(
            self,
            self.protocol,
            self._transport,
            services.delivery,
            send_queue_limit=config.send_queue_limit,
            address=CONSOLE_ADDRESS,
            endpoint=CONSOLE_ADDRESS,
        )
        self._abort_timer: asyncio.TimerHandle | None = None
        open_console(self.peer, services.limits, config.send_queue_limit)

    def closes_in(self) -> float | None:
        return None  # chatapp-admin's console is not pinged

    async def run(self) -> None:
        config, peer = self._config, self.peer
        activity.record("console_connect")
        welcome = Welcome(
            server=config.server_name,
            version=PROTOCOL_VERSION,
            max_frame=config.max_frame,
            max_text=config.max_text,
        )
        peer.outbox.push(self.protocol.welcome(welcome, authenticated=True))
        try:
            while not peer.closing:
                data = await self._reader.read(READ_CHUNK)
                if not data:
                    self.close(ByeReason.CLIENT_CLOSED)
                    break
                self.protocol.receive_data(data)
                await self._handle_events()
        except (ConnectionError, OSError):
            pass
        finally:
            if not peer.closing:
                self.protocol.connection_lost()
                self._transport.close()
            activity.record("console_disconnect")
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()  # bounded by the abort timer
            if self._abort_timer is not None:
                self._abort_timer.cancel()

    async def _handle_events(self) -> None:
        protocol, peer = self.protocol, self.peer
        while (event := protocol.next_event()) is not None:
            if isinstance(event, FrameReceived):
                refused = console_refusal(event.frame)
                if refused is not None:
                    peer.refuse(refused, event.frame.ref)
                    continue
                goodbye = await dispatch(peer, event.frame, self._services)
                if goodbye is not None:
                    self.close(goodbye.reason)
            elif isinstance(event, FrameRefused):
                peer.refuse(event.error)
            else:
                self.close(event.reason)

    def close(
        self,
        reason: ByeReason,
        *,
        end_reason: str | None = None,
        revoke: bool = False,
        message: str | None = None,
    ) -> None:
        """Say goodbye and close (the console has no session row: nothing to end or revoke)."""
        bye = self.protocol.close(reason, message)
        if not bye:
            return
        outbox = self.peer.outbox
        outbox.push_final(bye)
        outbox.flush()
        # The operator's own tool on the same machine: it reads its answers, but a stuck one must
        # not hold the server's shutdown, so a close with output still unsent aborts after the grace.
        self._transport.close()
        if self._transport.get_write_buffer_size():
            self._abort_timer = asyncio.get_running_loop().call_later(
                self._config.close_grace, self._abort_if_stuck
            )

    def _abort_if_stuck(self) -> None:
        if self._transport.get_write_buffer_size():
            self._transport.abort()

    async def drain(self) -> None:
        self.peer.outbox.flush()
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()


class ControlListener:
    """The control socket at ``path``: bound at start, served once the services exist."""

    def __init__(self, config: Config, path: Path) -> None:
        self._config = config
        self.path = path
        self._server: asyncio.AbstractServer | None = None
        self._identity: tuple[int, int] | None = None
        """(device, inode) of the socket file we made: only that one is removed at the end."""
        self._services: Services | None = None
        self._connections: dict[ControlConnection, asyncio.Task[None]] = {}
        self._stopping = False

    async def bind(self) -> None:
        """Make the socket (not accepting yet); :class:`ControlSocketError` if it cannot be."""
        path = self.path
        await _clear_stale(path)
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            problem = f"cannot make the directory of the control socket {path}: {exc}"
            raise ControlSocketError(problem) from exc
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # The umask makes the socket 0600 from the moment it exists: a chmod afterwards would leave
            # an instant in which anyone could connect. The chmod and the check make sure of it.
            previous = os.umask(0o177)
            try:
                sock.bind(str(path))
            finally:
                os.umask(previous)
            os.chmod(path, SOCKET_MODE)
            made = os.stat(path)
            if not stat.S_ISSOCK(made.st_mode) or stat.S_IMODE(made.st_mode) != SOCKET_MODE:
                raise ControlSocketError(
                    f"the control socket {path} has mode {stat.S_IMODE(made.st_mode):o}, not 600"
                )
            self._identity = (made.st_dev, made.st_ino)
            sock.setblocking(False)
            self._server = await asyncio.start_unix_server(
                self._accept, sock=sock, limit=4 * self._config.max_frame, start_serving=False
            )
        except OSError as exc:
            sock.close()
            self._remove()
            hint = " (give a shorter one with --control-socket)" if "too long" in str(exc) else ""
            raise ControlSocketError(f"cannot make the control socket {path}: {exc}{hint}") from exc
        except ControlSocketError:
            sock.close()
            self._remove()
            raise

    async def serve(self, services: Services) -> None:
        assert self._server is not None, "bind first"
        self._services = services
        await self._server.start_serving()
        activity.record("control_socket", path=str(self.path))

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stopping or self._services is None:
            writer.close()
            return
        connection = ControlConnection(reader, writer, self._services)
        task = asyncio.current_task()
        assert task is not None
        self._connections[connection] = task
        try:
            await connection.run()
        except asyncio.CancelledError:
            if not self._stopping:  # only close() cancels these; end quietly then (see TcpListener)
                raise
        finally:
            del self._connections[connection]

    async def close(self, timeout: float) -> None:
        """Stop accepting, say goodbye to every console, remove the socket file."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close(ByeReason.SHUTDOWN)
        tasks = list(self._connections.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        self._remove()

    def _remove(self) -> None:
        """Remove the socket file if it is the one we made (not a later server's)."""
        if self._identity is None:
            return
        identity, self._identity = self._identity, None
        with contextlib.suppress(OSError):
            found = os.stat(self.path)
            if (found.st_dev, found.st_ino) == identity:
                os.unlink(self.path)


async def _clear_stale(path: Path) -> None:
    """Remove a socket left by a server that is gone; refuse a live one or any other file."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ControlSocketError(f"cannot look at the control socket {path}: {exc}") from exc
    if not stat.S_ISSOCK(found.st_mode):
        raise ControlSocketError(f"{path} exists and is not a socket: move it, or give --control-socket")
    if await _answers(path):
        raise ControlSocketError(
            f"another server is running with the control socket {path} "
            "(stop it, or give this one its own --control-socket)"
        )
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    activity.record("control_socket_replaced", path=str(path))


async def _answers(path: Path) -> bool:
    """Whether something accepts connections on the socket at ``path``."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(path)), LIVENESS_TIMEOUT)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except TimeoutError:
        return True  # its backlog is full: a server, and a busy one
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return False
        raise ControlSocketError(f"cannot look at the control socket {path}: {exc}") from exc
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
