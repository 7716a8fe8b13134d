"""The web port of a real ``chatapp-server`` process: a WebSocket client and a TCP client chat, the
server restarts on the same web port, and the web client resumes with exactly what it missed."""

from __future__ import annotations

from pathlib import Path

from chatapp.protocol import Bye, Message, Presence, Send
from tests.support.server import ServerProcess
from tests.support.wire import WireClient
from tests.support.ws_wire import WsWireClient


async def test_a_web_client_resumes_across_a_server_restart(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    server = server_factory(tmp_path / "chat.db", "--web-port", "0").start()
    assert server.web_url == f"http://127.0.0.1:{server.web_port}/"
    ws_url = f"ws://127.0.0.1:{server.web_port}/ws"
    web = await WsWireClient.open(ws_url, origin=server.web_url.rstrip("/"))
    await web.register("alice")
    token = web.last_token
    await web.send(Send(room="general", text="before the restart", ref=1))
    seen = await web.expect(Message, skip=(Presence,))

    assert server.stop() == 0
    assert (await web.expect(Bye, skip=(Presence,))).reason == "server shutting down"
    web_port = server.web_port
    server.start()
    assert server.web_port == web_port  # the same URL after a restart

    tcp = await WireClient.connect(server.host, server.port)
    await tcp.register("bob")
    await tcp.send(Send(room="general", text="while alice was away", ref=2))
    await tcp.expect(Message, skip=(Presence,))

    again = await WsWireClient.open(ws_url, origin=server.web_url.rstrip("/"))
    await again.resume(token, last_id=seen.id)
    assert [m.text for m in again.replayed] == ["while alice was away"]
    await again.send(Send(room="general", text="back", ref=3))
    assert (await tcp.expect(Message, skip=(Presence,))).text == "back"
    for client in (web, again, tcp):
        await client.close()
