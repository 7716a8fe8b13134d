"""The web client in a real browser (headless Chromium) against a real server process: registering
and chatting between two pages, a page and the terminal client (a real ``chatapp-client``
subprocess) in one room, hostile text rendered inert, a reload that resumes without the password,
and a server restart seen as a reconnect that brings exactly the missed messages, once, in order.

One server serves the module (each test has its own users); the restart test has its own.
``CHATAPP_WEB_SCREENSHOT=1`` (``make web-screenshot``) writes the README's docs/web-client.png
from the two-page chat.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chatapp.protocol import Join, Send, SendDirect
from tests.support.browser import page_errors
from tests.support.olm import TestDevice, fake_ciphertext
from tests.support.server import ServerProcess
from tests.support.wire import PASSWORD, WireClient

WAIT_MS = 15_000
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "web-client.png"
MORE_REGISTRATIONS = ("--registrations-per-address", "1000")
RECONNECT_NOW = "() => { const b = document.getElementById('reconnect'); if (!b.hidden) b.click(); }"
BIG_BURST = ("--send-burst", "500")  # a room's long history is written at once


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        tmp_path_factory.mktemp("web") / "chat.db", "--web-port", "0", *MORE_REGISTRATIONS, *BIG_BURST
    )
    server.start()
    yield server
    server.close()


async def open_page(context: Any, server: ServerProcess) -> Any:
    page = await context.new_page()
    await page.goto(server.web_url)
    return page


async def register(page: Any, name: str, password: str = PASSWORD) -> None:
    await page.check('input[name="mode"][value="register"]')
    await page.fill("#username", name)
    await page.fill("#password", password)
    await page.fill("#password-again", password)
    await page.click("#signin-submit")
    await connected(page)


async def connected(page: Any) -> None:
    await page.locator("#chat").wait_for(state="visible", timeout=WAIT_MS)
    await page.locator("#conn", has_text="Connected.").wait_for(timeout=WAIT_MS)


async def say(page: Any, text: str) -> None:
    await page.fill("#input", text)
    await page.press("#input", "Enter")


def message(page: Any, text: str) -> Any:
    return page.locator("#messages li.msg:not(.pending) .text", has_text=text)


async def shown(page: Any, text: str) -> None:
    await message(page, text).first.wait_for(timeout=WAIT_MS)


async def fill(client: WireClient, name: str, room: str, lines: list[str]) -> None:
    """``client`` registers as ``name``, joins ``room`` and sends ``lines`` there, in order."""
    await client.register(name)
    await client.send(Join(room=room))
    for line in lines:
        await client.send(Send(room=room, text=line))


async def texts(page: Any) -> list[str]:
    return list(await page.locator("#messages li.msg:not(.pending) .text").all_text_contents())


async def test_register_and_chat_between_two_pages(web_server: ServerProcess, browser_context: Any) -> None:
    ann = await open_page(browser_context, web_server)
    # The terminal client's rules and sentences, before anything is sent.
    await ann.check('input[name="mode"][value="register"]')
    await ann.fill("#username", "an")
    await ann.fill("#password", "short")
    await ann.click("#signin-submit")
    assert await ann.locator("#signin-error").text_content() == (
        "That username is not valid: usernames are 3 to 32 characters of letters, digits, '_', '.' and '-'."
    )
    await ann.fill("#username", "ann")
    await ann.click("#signin-submit")
    assert await ann.locator("#signin-error").text_content() == (
        "That password is not accepted: passwords are 8 to 1024 characters long."
    )
    await register(ann, "ann")

    ben = await open_page(browser_context, web_server)
    await ben.fill("#username", "ben")
    await ben.fill("#password", "not the password")
    await ben.click("#signin-submit")
    await ben.locator("#signin-error", has_text="Wrong username or password.").wait_for(timeout=WAIT_MS)
    await register(ben, "ben")
    await ann.locator("#messages li.note", has_text="ben").wait_for(timeout=WAIT_MS)

    await say(ann, "hello ben, see https://example.com/docs.")
    await shown(ben, "hello ben")
    link = ben.locator("#messages a", has_text="https://example.com/docs")
    assert await link.get_attribute("href") == "https://example.com/docs"
    assert await link.get_attribute("rel") == "noopener noreferrer"
    assert await link.get_attribute("target") == "_blank"

    await ben.fill("#input", "first line")
    await ben.press("#input", "Shift+Enter")
    await ben.keyboard.type("second line")
    await ben.press("#input", "Enter")
    await shown(ann, "second line")
    assert "first line\nsecond line" in await texts(ann)
    # Local times (HH:MM, the full date in the title), a day separator, stable name colours.
    times = await ann.locator("#messages li.msg time").all_text_contents()
    assert times and all(re.fullmatch(r"\d\d:\d\d", t) for t in times)
    assert await ann.locator("#messages li.day").first.text_content() == "Today"
    colours = await ann.locator("#messages li.msg .name", has_text="ben").evaluate_all(
        "names => names.map(n => n.className)"
    )
    assert len(set(colours)) == 1 and "name-c" in colours[0]
    # Input history: Up brings back what was sent.
    await ben.press("#input", "ArrowUp")
    assert await ben.input_value("#input") == "first line\nsecond line"
    await ben.fill("#input", "")

    # A direct conversation from the web goes in clear, and says so.
    await ann.fill("#dm-user", "ben")
    await ann.press("#dm-user", "Enter")
    assert await ann.locator("#plain-notice").is_visible()
    await say(ann, "just between us")
    await ben.locator("#dm-list .badge.mention", has_text="1").wait_for(timeout=WAIT_MS)
    await ben.click("#dm-list button")
    await shown(ben, "just between us")
    assert "[plain] just between us" in await texts(ben)

    # The token is in sessionStorage only: no cookie, nothing in localStorage.
    storage = await ann.evaluate(
        "() => [sessionStorage.getItem('chatapp.token') !== null, document.cookie, localStorage.length]"
    )
    assert storage == [True, "", 0]

    if os.environ.get("CHATAPP_WEB_SCREENSHOT"):
        await say(ann, "/join web")
        await ann.locator("#target-title", has_text="#web").wait_for(timeout=WAIT_MS)
        await say(ann, "/topic The browser client: same rooms, same protocol")
        await ben.fill("#join-room", "web")
        await ben.press("#join-room", "Enter")
        await ben.locator("#target-topic", has_text="same protocol").wait_for(timeout=WAIT_MS)
        for text in ("morning! the web client is up on the test server",
                     "it talks protocol v1 over the WebSocket at /ws, see https://example.com/docs/web",
                     "and it resumes after a reload, without the password"):
            await say(ann, text)
        await shown(ben, "without the password")
        await say(ben, "ann: nice, it reconnected by itself when I restarted the server")
        await shown(ann, "reconnected by itself")
        await ann.click("#room-list button:has-text('#general')")
        await say(ben, "ann: and the unread count is in the sidebar")
        await ann.locator("#room-list .badge.mention").wait_for(timeout=WAIT_MS)
        await ann.set_viewport_size({"width": 1000, "height": 560})
        await ann.click("#room-list button:has-text('#web')")
        await ann.click("#room-list button:has-text('#general')")
        await say(ben, "ann: the new-messages line is above this one")
        await ann.click("#room-list button:has-text('#web')")
        await ann.screenshot(path=str(SCREENSHOT))
    assert page_errors(ann) == [] and page_errors(ben) == []


def client_process(server: ServerProcess, tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "XDG_DATA_HOME": str(tmp_path / "data")}
    return subprocess.Popen(
        [sys.executable, "-m", "chatapp.client", "--host", server.host, "--port", str(server.port), *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )


class Lines:
    """What a subprocess prints, read by a thread, waited for without blocking the event loop."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            self.lines.append(line)

    async def wait_for(self, text: str, timeout: float = WAIT_MS / 1000) -> None:
        async with asyncio.timeout(timeout):
            while not any(text in line for line in self.lines):
                await asyncio.sleep(0.05)


async def test_a_page_and_the_terminal_client_in_one_room(
    web_server: ServerProcess, browser_context: Any, tmp_path: Path
) -> None:
    page = await open_page(browser_context, web_server)
    await register(page, "cat")
    client = client_process(web_server, tmp_path, "--user", "term", "--register", "--password-stdin")
    assert client.stdin is not None
    output = Lines(client.stdout)
    try:
        client.stdin.write(f"{PASSWORD}\nhi from the terminal\n")
        client.stdin.flush()
        await shown(page, "hi from the terminal")
        name = page.locator("#messages li.msg", has_text="hi from the terminal").locator(".name")
        assert await name.text_content() == "term"
        await say(page, "hi from the web")
        await output.wait_for("<cat> hi from the web")
        client.stdin.write("/plain cat a plain word\n")
        client.stdin.flush()
        await page.locator("#dm-list button", has_text="@term").click()
        await shown(page, "a plain word")
        assert "[plain] a plain word" in await texts(page)
        await say(page, "and back")
        await output.wait_for("and back")
        client.stdin.close()
        assert await asyncio.to_thread(client.wait, 30) == 0
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        for stream in (client.stdin, client.stdout, client.stderr):
            if stream is not None:
                stream.close()
    assert page_errors(page) == []


HOSTILE = [
    '<img src=x onerror="window.__pwned = 1">',
    "<script>window.__pwned = 2</script>",
    "javascript:window.__pwned=3 and [click](javascript:alert(1))",
    "bidi \u202eevil\u202c and \u2066isolated\u2069 end",
    "x" * 4000,
]


async def test_hostile_text_renders_inert(web_server: ServerProcess, browser_context: Any) -> None:
    page = await open_page(browser_context, web_server)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await register(page, "dora")
    mallory = await WireClient.connect(web_server.host, web_server.port)
    await mallory.register("mallory")
    for text in HOSTILE:
        await mallory.send(Send(room="general", text=text))
    await shown(page, "x" * 4000)
    assert dialogs == []
    assert await page.evaluate("() => window.__pwned") is None
    assert await page.locator("#messages img, #messages script").count() == 0
    # javascript: is text, never a link (the only links are the http(s) ones of earlier tests' messages)
    assert await page.locator('#messages a:not([href^="https:"]):not([href^="http:"])').count() == 0
    shown_texts = await texts(page)
    assert HOSTILE[0] in shown_texts and HOSTILE[1] in shown_texts
    assert "bidi evil and isolated end" in shown_texts  # the controls are gone, the words stay
    assert not any(mark in "".join(shown_texts) for mark in "\u202e\u202c\u2066\u2069")
    # A 4,000-character line wraps: nothing is wider than the page, at a phone's width too.
    for width in (1000, 375):
        await page.set_viewport_size({"width": width, "height": 700})
        overflow = await page.evaluate(
            """() => {
                const list = document.getElementById("messages");
                const page = document.documentElement.scrollWidth - window.innerWidth;
                return [page, list.scrollWidth - list.clientWidth];
            }"""
        )
        assert overflow[0] <= 0 and overflow[1] <= 0
    assert await page.locator("#input").is_visible()
    assert await page.locator("#menu").is_visible()  # the rooms are behind the menu button at 375 px
    await page.click("#menu")
    assert await page.locator("#room-list").is_visible()

    # An end-to-end encrypted direct message cannot be read in a browser: it says where to read it.
    laptop = TestDevice("mallory", "LAPTOP01")
    await mallory.send(laptop.publish(2))
    await mallory.send(SendDirect(to="dora", e2e=laptop.envelope({"PHONE001": fake_ciphertext(200)})))
    await page.set_viewport_size({"width": 1000, "height": 700})
    await page.locator("#dm-list button", has_text="@mallory").click()
    await shown(page, "encrypted message: open it in chatapp-client")
    assert await message(page, "encrypted message").get_attribute("class") == "text e2e"
    await mallory.close()
    assert page_errors(page) == []


async def test_a_reload_resumes_without_the_password(web_server: ServerProcess, browser_context: Any) -> None:
    page = await open_page(browser_context, web_server)
    await register(page, "eli")
    await say(page, "/join notes")
    await page.locator("#target-title", has_text="#notes").wait_for(timeout=WAIT_MS)
    await say(page, "said before the reload")
    await shown(page, "said before the reload")
    await page.reload()
    await connected(page)
    # Back in the same room, with what was said there (the page asked for its history).
    await page.locator("#target-title", has_text="#notes").wait_for(timeout=WAIT_MS)
    await shown(page, "said before the reload")
    assert await page.locator("#signin").is_hidden()
    assert await page.locator("#me").text_content() == "eli"
    assert (await texts(page)).count("said before the reload") == 1
    assert page_errors(page) == []


async def test_a_server_restart_shows_reconnecting_then_the_missed_messages_once_in_order(
    tmp_path: Path, browser_context: Any
) -> None:
    server = ServerProcess(tmp_path / "chat.db", "--web-port", "0", *MORE_REGISTRATIONS)
    server.start()
    try:
        page = await open_page(browser_context, server)
        await register(page, "fay")
        gus = await WireClient.connect(server.host, server.port)
        await gus.register("gus")
        await gus.send(Send(room="general", text="m1"))
        await shown(page, "m1")
        await gus.close()

        await asyncio.to_thread(server.stop)
        await page.locator("#conn", has_text="Reconnecting").wait_for(timeout=WAIT_MS)
        await say(page, "typed while down")  # queued, sent once the session is back
        assert await page.locator("#messages li.pending", has_text="typed while down").count() == 1
        await asyncio.to_thread(server.start)
        gus = await WireClient.connect(server.host, server.port)
        await gus.login("gus")
        for text in ("m2", "m3", "m4"):
            await gus.send(Send(room="general", text=text))
        # Skip the rest of the backoff's wait, if the page is still waiting (checked and clicked at once).
        await page.evaluate(RECONNECT_NOW)
        await shown(page, "m4")
        await shown(page, "typed while down")
        await page.locator("#conn", has_text="Connected.").wait_for(timeout=WAIT_MS)
        seen = [text for text in await texts(page) if text in ("m1", "m2", "m3", "m4", "typed while down")]
        assert [t for t in seen if t.startswith("m")] == ["m1", "m2", "m3", "m4"]
        assert seen.count("typed while down") == 1
        assert await page.locator("#messages li.pending").count() == 0
        stored = server.rows("SELECT count(*) FROM messages WHERE text = 'typed while down'")
        assert stored == [(1,)]
        await gus.close()
        # Chromium reports each refused connection attempt on the console; nothing else may be there.
        assert [e for e in page_errors(page) if "WebSocket connection to" not in e] == []
    finally:
        server.close()


TO_THE_TOP = "list => { list.scrollTop = 0; list.dispatchEvent(new Event('scroll')); }"


async def noted(page: Any, text: str, kind: str = "note") -> None:
    await page.locator(f"#messages li.{kind}", has_text=text).wait_for(timeout=WAIT_MS)


async def test_rooms_topics_people_unread_and_history_upward(
    web_server: ServerProcess, browser_context: Any
) -> None:
    hal = await open_page(browser_context, web_server)
    await register(hal, "hal")
    ivy = await open_page(browser_context, web_server)
    await register(ivy, "ivy")

    # Creating a room and setting its topic, with the commands of the terminal client.
    await say(hal, "/join rust")
    await hal.locator("#target-title", has_text="#rust").wait_for(timeout=WAIT_MS)
    await noted(hal, "You joined #rust. You created it")
    await say(hal, "/topic Rust talk; be kind")
    await hal.locator("#target-topic", has_text="Rust talk; be kind").wait_for(timeout=WAIT_MS)
    await say(ivy, "/topic mine now")  # in #general, where ivy is no owner
    await noted(ivy, "Only the owner and operators of #general", "note.error")

    # Joining with the sidebar's field; the room's people and its topic.
    await ivy.fill("#join-room", "#rust")
    await ivy.press("#join-room", "Enter")
    await ivy.locator("#target-topic", has_text="Rust talk; be kind").wait_for(timeout=WAIT_MS)
    await noted(hal, "ivy joined #rust")
    await hal.locator("#people-list button", has_text="ivy").wait_for(timeout=WAIT_MS)
    await hal.click("#people-list button:has-text('ivy')")
    await noted(hal, "ivy is online.")
    await hal.click("#who")
    await noted(hal, "Online in #rust (2): @hal (owner), ivy")

    # Unread where hal is not looking, highlighted when it names hal; the "new messages" line.
    await hal.click("#room-list button:has-text('#general')")
    await say(ivy, "hal: a question")
    await say(ivy, "and a second line of it")
    badge = hal.locator("#room-list button:has-text('#rust') .badge.mention")
    await badge.filter(has_text="2").wait_for(timeout=WAIT_MS)
    assert "hal: a question" in (await hal.locator("#announcer").text_content() or "") or \
        "second line" in (await hal.locator("#announcer").text_content() or "")
    await hal.click("#room-list button:has-text('#rust')")
    assert await hal.locator("#room-list .badge").count() == 0
    marker_next = hal.locator("#messages li.marker + li.msg")
    assert "hal: a question" in (await marker_next.text_content() or "")
    # One sender's run is grouped under one name.
    assert await hal.locator("#messages li.msg.grouped", has_text="a second line").count() == 1

    # History upward: a room with more than a page of messages, read back to its beginning.
    jay = await WireClient.connect(web_server.host, web_server.port)
    try:
        await fill(jay, "jay", "archive", [f"old message {number:03}" for number in range(1, 131)])
        await say(hal, "/join archive")
        await hal.locator("#target-title", has_text="#archive").wait_for(timeout=WAIT_MS)
        await shown(hal, "old message 130")
        beginning = hal.locator("#messages li.beginning", has_text="Beginning of the history of #archive")
        for _ in range(10):  # scroll to the top, wait for the page above, again
            if await beginning.count():
                break
            before = await hal.locator("#messages li.msg").count()
            await hal.locator("#messages").evaluate(TO_THE_TOP)
            await hal.wait_for_function(
                """before => document.querySelectorAll("#messages li.msg").length > before
                || /^Beginning/.test(document.querySelector("#messages li.beginning")?.textContent || "")""",
                arg=before, timeout=WAIT_MS,
            )
        await beginning.wait_for(timeout=WAIT_MS)
        olds = [text for text in await texts(hal) if text.startswith("old message")]
        assert olds == [f"old message {number:03}" for number in range(1, 131)]

        # Leaving: the room is gone from the sidebar, and the view is back in #general.
        await hal.click("#leave")
        await hal.locator("#target-title", has_text="#general").wait_for(timeout=WAIT_MS)
        assert await hal.locator("#room-list button:has-text('#archive')").count() == 0
    finally:
        await jay.close()
    assert page_errors(hal) == [] and page_errors(ivy) == []


ASK_FOR_THE_NEWEST_PAGE_AT_THE_TOP = """() => {
    // A page of history on its way that brings nothing above what is shown (the newest page asked
    // again, as a page asked before any message was shown, its messages come live meanwhile), while
    // the reader is at the top: scrolling there while it loads does nothing.
    const app = window.ChatApp;
    const target = app.active();
    target.loading = true;
    app.link.request({ type: "history", room: target.name, limit: 50 },
                     { action: "history", key: target.key, room: target.name });
    document.getElementById("messages").scrollTop = 0;
}"""


async def test_at_the_top_when_a_page_brings_nothing_above_the_page_before_it_is_fetched(
    web_server: ServerProcess, browser_context: Any
) -> None:
    """A reader who scrolled to the top while a page of history was on its way, a page that then
    brings nothing above (its messages had come live), gets the page before it without scrolling
    again: the scroll that would have asked for it came while the first page loaded."""
    lou = await WireClient.connect(web_server.host, web_server.port)
    try:
        await fill(lou, "lou", "stacks", [f"stacked {number:02}" for number in range(1, 81)])
        await lou.send(Send(room="stacks", text="stacked end", ref="end"))
        while (await lou.recv()).ref != "end":
            pass
        reader = await open_page(browser_context, web_server)
        await register(reader, "mae")
        await say(reader, "/join stacks")
        await reader.locator("#target-title", has_text="#stacks").wait_for(timeout=WAIT_MS)
        await shown(reader, "stacked end")
        await reader.wait_for_function("() => !window.ChatApp.active().loading", timeout=WAIT_MS)
        shown_before = await reader.locator("#messages li.msg").count()
        assert shown_before == 50
        await reader.evaluate(ASK_FOR_THE_NEWEST_PAGE_AT_THE_TOP)
        await reader.wait_for_function(
            "before => document.querySelectorAll('#messages li.msg').length > before", arg=shown_before,
            timeout=WAIT_MS,
        )
        await shown(reader, "stacked 01")
    finally:
        await lou.close()
    assert page_errors(reader) == []


async def test_signed_in_elsewhere_take_over_then_sign_out(
    web_server: ServerProcess, browser_context: Any
) -> None:
    first = await open_page(browser_context, web_server)
    await register(first, "kim")
    second = await open_page(browser_context, web_server)
    await second.fill("#username", "kim")
    await second.fill("#password", PASSWORD)
    await second.click("#signin-submit")
    elsewhere = "This account is already signed in somewhere else (from 127.0.0.1:"
    error = second.locator("#signin-error", has_text=elsewhere)
    await error.wait_for(timeout=WAIT_MS)
    assert (await error.text_content() or "").endswith("; sign out there, or take that session over.")
    await second.click("#takeover")
    await connected(second)
    # The page that was taken over says why and asks to sign in; its token no longer resumes.
    replaced = "You signed in from somewhere else, so this session was closed."
    await first.locator("#signin-error", has_text=replaced).wait_for(timeout=WAIT_MS)
    assert await first.evaluate("() => sessionStorage.getItem('chatapp.token')") is None
    await second.click("#signout")
    await second.locator("#signin").wait_for(state="visible", timeout=WAIT_MS)
    assert await second.evaluate("() => sessionStorage.getItem('chatapp.token')") is None
    # Signing in again on the same page opens a new link (the old one ended with the goodbye).
    await second.fill("#password", PASSWORD)
    await second.click("#signin-submit")
    await connected(second)
    # And the page that was taken over can take the account back.
    await first.fill("#password", PASSWORD)
    await first.click("#signin-submit")
    await first.locator("#takeover").click(timeout=WAIT_MS)
    await connected(first)
    await second.locator("#signin-error", has_text=replaced).wait_for(timeout=WAIT_MS)
    assert page_errors(first) == [] and page_errors(second) == []
