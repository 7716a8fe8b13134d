"""One client over TCP: protocol v1's own newline framing on the shared connection shell.

What is TCP's own is small: the bytes read are lines as they come
(:meth:`~chatapp.protocol.connection.ServerProtocol.receive_data`), frames are
written to the socket as they are, and a half-close (``shutdown(SHUT_WR)``,
``nc -N``) is answered: the client still reads, so it gets the acknowledgments
of what it sent and a ``bye``. Everything else — timers, goodbye, keep-alive —
is :class:`~chatapp.server.transport.shell.ConnectionShell`'s.
"""

from __future__ import annotations

from chatapp.protocol import ByeReason
from chatapp.server.transport.shell import READ_CHUNK, ConnectionShell

__all__ = ["READ_CHUNK", "TcpConnection"]


class TcpConnection(ConnectionShell):
    kind = "tcp"

    async def _on_end_of_input(self) -> None:
        """The client closed its side: finish what it asked for, then say ``bye``.

        It is a disconnect, not a quit: the session's token still resumes.
        Waiting is bounded by ``close_grace``.
        """
        if self.peer.closing:
            return
        await self._services.messaging.settle(self.peer.session)
        self.close(ByeReason.CLIENT_CLOSED, end_reason="disconnect")
