"""One client over a WebSocket: protocol v1, one frame per text message, on the shared shell.

The opening handshake is done (:mod:`chatapp.server.transport.web`) by the
time this starts; from then on the WebSocket framing is websockets' sans-I/O
protocol object (:class:`websockets.server.ServerProtocol`, made in the OPEN
state), fed the bytes the shell reads, as ours is fed its frames: masking,
fragments, control frames, the closing handshake and its limits are the
library's; what a message means is ours.

- A text message is one frame (:meth:`~chatapp.protocol.connection.
  ServerProtocol.receive_message`): over ``--max-frame`` it is refused as
  ``frame_too_large``, not one frame (empty, two, not JSON) as ``bad_frame``,
  counted toward ``--max-invalid-frames`` like a bad line on TCP.
- A binary message is refused as ``bad_frame`` the same way.
- A message over four times ``--max-frame`` (the bound TCP's reader keeps too)
  is not even read: the library closes the WebSocket with 1009 (message too
  big); a WebSocket protocol error closes it with 1002.
- Frames to the client: each becomes one text message, without its newline.
  The outbox's cut-off counts the socket's buffer, as on TCP.
- The goodbye: ``bye`` as a text message, then a close frame (1000; 1001 at
  shutdown); the socket is closed when the client answers it, or after
  ``--close-grace``. A client's own close frame ends the connection as a
  disconnect (its session resumes); nothing can be sent after it, not even a
  ``bye``.
- Keep-alive is protocol v1's own ``ping`` (the shell's, as on TCP), not
  WebSocket pings: a browser answers those by itself even when the page's
  script is stuck, and the app's answer is what tells that it is alive.
"""

from __future__ import annotations

import asyncio

from websockets.frames import Frame, Opcode
from websockets.protocol import State as SocketState
from websockets.server import ServerProtocol as SocketProtocol

from chatapp.protocol import ByeReason
from chatapp.protocol.errors import ErrorCode, ProtocolError
from chatapp.server.services import Services
from chatapp.server.transport.shell import ConnectionShell

MESSAGE_BOUND = 4
"""Messages up to this many times ``--max-frame`` are read (and refused if over it); longer ones
close the WebSocket."""

_BINARY = ProtocolError(ErrorCode.BAD_FRAME, "frames are sent as WebSocket text messages, not binary")
_CLOSE_CODES = {ByeReason.SHUTDOWN: 1001}


def socket_protocol(max_frame: int) -> SocketProtocol:
    """The WebSocket framing of a connection whose handshake is done. No extensions (no
    compression: frames are small, and compressing secrets beside attacker-chosen text leaks)."""
    return SocketProtocol(state=SocketState.OPEN, max_size=MESSAGE_BOUND * max_frame)


class MessageSink:
    """Delivery's sink over a WebSocket: every frame written becomes one text message."""

    __slots__ = ("_socket", "_transport")

    def __init__(self, socket: SocketProtocol, transport: asyncio.WriteTransport) -> None:
        self._socket = socket
        self._transport = transport

    def write(self, data: bytes) -> None:
        socket = self._socket
        if socket.state is not SocketState.OPEN:
            return  # closing: nothing more may be sent
        start = 0
        # Encoded frames end with a newline, and JSON escapes any newline inside one.
        while (end := data.find(b"\n", start)) >= 0:
            socket.send_text(data[start:end])
            start = end + 1
        pending = socket.data_to_send()
        self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def is_closing(self) -> bool:
        return self._socket.state is not SocketState.OPEN or self._transport.is_closing()


class WebSocketConnection(ConnectionShell):
    kind = "ws"

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        services: Services,
        socket: SocketProtocol,
    ) -> None:
        self._socket = socket
        super().__init__(reader, writer, services, MessageSink(socket, writer.transport))
        self._fragments: bytearray | None = None  # a message arriving in fragments (bounded by the library)
        self._fragmented_binary = False
        self._close_timer: asyncio.TimerHandle | None = None

    def _reading(self) -> bool:
        # After the goodbye too: the client's answer to the close frame ends the connection.
        return not self._transport.is_closing()

    async def _received(self, data: bytes) -> None:
        socket = self._socket
        socket.receive_data(data)
        self._write_pending()  # pongs, the answer to a close frame
        for frame in socket.events_received():
            if self.peer.closing:
                break
            if not isinstance(frame, Frame):
                continue  # handshake events: none once open
            opcode = frame.opcode
            if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
                self._fragmented_binary = opcode is Opcode.BINARY
                self._fragments = bytearray() if self._fragmented_binary else bytearray(frame.data)
            elif opcode is Opcode.CONT:
                if self._fragments is not None and not self._fragmented_binary:
                    self._fragments += frame.data
            elif opcode is Opcode.CLOSE:
                # The client closes: its session resumes later (a disconnect, not a quit).
                self.close(ByeReason.CLIENT_CLOSED, end_reason="disconnect")
                break
            else:
                continue  # ping, pong: answered by the library
            if frame.fin and self._fragments is not None:
                fragments, self._fragments = self._fragments, None
                if self._fragmented_binary:
                    self.peer.refuse(_BINARY)
                else:
                    self.protocol.receive_message(bytes(fragments))
                    await self._handle_events()
        if socket.state is not SocketState.OPEN and not self.peer.closing:
            # The library failed the connection (a protocol error, a message too big): it said so
            # in a close frame; no bye can follow it.
            code = socket.close_sent.code if socket.close_sent is not None else 1006
            self.close(ByeReason.TOO_MANY_INVALID, end_reason=f"websocket_{code}")

    def _say_goodbye(self, bye: bytes, reason: ByeReason) -> None:
        outbox = self.peer.outbox
        outbox.push_final(bye)
        outbox.flush()
        socket = self._socket
        if socket.state is SocketState.OPEN:
            socket.send_close(_CLOSE_CODES.get(reason, 1000), reason.value)
        self._write_pending()
        if not self._transport.is_closing():
            # Wait for the client's close frame, a while.
            self._close_timer = self._loop.call_later(self._config.close_grace, self._close_transport)

    def _write_pending(self) -> None:
        """Write what the library has to send (pongs, close frames) and, at its end of stream,
        close. Pongs do not pass through the outbox, so its limit is checked here too: a client
        that sends pings and reads nothing is cut off like one that reads nothing of the chat."""
        transport = self._transport
        for data in self._socket.data_to_send():
            if data:
                if not transport.is_closing():
                    transport.write(data)
            else:  # the end of the stream: the closing handshake is over, or failed
                self._close_transport()
        if not self.peer.closing and transport.get_write_buffer_size() > self._config.send_queue_limit:
            self.peer.overflowed()

    async def _finish(self) -> None:
        await super()._finish()
        if self._close_timer is not None:
            self._close_timer.cancel()
