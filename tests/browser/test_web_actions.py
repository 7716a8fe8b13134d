"""Actions (``/me``) in the web client, in a real browser against a real server process: typed as
``/me waves``, sent with the protocol's ``action`` flag, shown as ``* ann waves`` on both pages,
and an action from another client (a wire client) shown the same way."""

from __future__ import annotations

from typing import Any

from chatapp.protocol import Send
from tests.browser.test_web_app import WAIT_MS, open_page, register, say, web_server
from tests.support.server import ServerProcess
from tests.support.wire import WireClient

__all__ = ["web_server"]  # the module's server fixture, shared with test_web_app's helpers


async def test_me_is_sent_as_an_action_and_shown_with_a_star(
    web_server: ServerProcess, browser_context: Any
) -> None:
    ann = await open_page(browser_context, web_server)
    await register(ann, "ann")
    ben = await open_page(browser_context, web_server)
    await register(ben, "ben")

    await say(ann, "/me waves at everyone")
    for page in (ann, ben):
        action = page.locator("#messages li.msg.action:not(.pending) .text", has_text="waves at everyone")
        await action.wait_for(timeout=WAIT_MS)
        assert await action.text_content() == "* ann waves at everyone"

    # The flag is the protocol's: a wire client sees it, and its own action shows as one in the pages.
    carl = await WireClient.connect(web_server.host, web_server.port)
    try:
        await carl.register("carl")
        await carl.send(Send(room="general", text="sits down", action=True))
        action = ben.locator("#messages li.msg.action .text", has_text="sits down")
        await action.wait_for(timeout=WAIT_MS)
        assert await action.text_content() == "* carl sits down"
    finally:
        await carl.close()
    # A plain message stays a plain one.
    await say(ben, "hello")
    plain = ann.locator("#messages li.msg:not(.action) .text", has_text="hello")
    await plain.wait_for(timeout=WAIT_MS)
