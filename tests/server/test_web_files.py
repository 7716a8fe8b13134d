"""The web client's files on the web port, for real: the table made from the package, the security
headers on every response, caching and revalidation, HEAD, and what is never served."""

from __future__ import annotations

import importlib.resources
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chatapp.server.app import ChatServer
from chatapp.server.static_site import IMMUTABLE, StaticSite
from chatapp.server.transport.http_request import RequestHead
from tests.server.conftest import fast_config
from tests.support.http import HttpAnswer, exchange, get

SECURITY = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[ChatServer]:
    server = ChatServer(fast_config(f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}", web_port=0))
    await server.start()
    yield server
    await server.shutdown()


def assert_secured(answer: HttpAnswer) -> None:
    for name, value in SECURITY.items():
        assert answer.headers.get(name) == value, (name, answer.headers)
    csp = answer.headers["content-security-policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
    ):
        assert directive in csp, csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "strict-transport-security" not in answer.headers  # plain HTTP: no HSTS


async def test_the_page_and_its_files_are_served_with_versioned_names(web: ChatServer) -> None:
    page = await get(web.web_port, "/")
    assert page.status == 200
    assert_secured(page)
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["cache-control"] == "no-cache"
    assert int(page.headers["content-length"]) == len(page.body)
    references = [r for r in re.findall(rb'(?:src|href)="([^"]+)"', page.body) if not r.startswith(b"data:")]
    names = sorted(re.sub(rb"\?v=[0-9a-f]{12}$", b"", r) for r in references)
    assert names == [
        b"app.css", b"app.js", b"commands.js", b"files.js", b"frames.js", b"net.js", b"sentences.js",
        b"store.js", b"text.js", b"ui.js", b"view.js",
    ]
    assert all(re.search(rb"\?v=[0-9a-f]{12}$", r) for r in references)  # every one versioned
    kinds = ((b"app.js", "text/javascript"), (b"ui.js", "text/javascript"), (b"app.css", "text/css"))
    for reference, kind in kinds:
        versioned = next(r for r in references if r.startswith(reference)).decode()
        asset = await get(web.web_port, "/" + versioned)
        assert asset.status == 200
        assert_secured(asset)
        assert asset.headers["content-type"] == f"{kind}; charset=utf-8"
        assert asset.headers["cache-control"] == IMMUTABLE
        # Without the current version (an old page, a hand-typed URL): revalidated, never immutable.
        for stale in (f"/{reference.decode()}", f"/{reference.decode()}?v=0123456789ab"):
            again = await get(web.web_port, stale)
            assert again.status == 200 and again.headers["cache-control"] == "no-cache"
            assert again.body == asset.body
    assert (await get(web.web_port, "/index.html")).body == page.body


async def test_an_etag_revalidates_to_304_and_head_has_no_body(web: ChatServer) -> None:
    page = await get(web.web_port, "/")
    etag = page.headers["etag"]
    unchanged = await get(web.web_port, "/", headers={"If-None-Match": etag})
    assert unchanged.status == 304 and unchanged.body == b""
    assert unchanged.headers["etag"] == etag
    assert_secured(unchanged)
    weak = await get(web.web_port, "/", headers={"If-None-Match": f'"other", W/{etag}'})
    assert weak.status == 304
    changed = await get(web.web_port, "/", headers={"If-None-Match": '"something-else"'})
    assert changed.status == 200 and changed.body == page.body

    head = await get(web.web_port, "/", method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == str(len(page.body))
    assert_secured(head)


@pytest.mark.parametrize(
    "path",
    [
        "/../pyproject.toml",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2fetc%2fpasswd",
        "//etc/passwd",
        "/\\..\\..\\etc\\passwd",
        "/app.js%00.html",
        "/static/app.js",
        "/.hidden",
        "/__init__.py",
        "/index.html/",
        "/APP.JS",
    ],
)
async def test_nothing_outside_the_table_is_served(web: ChatServer, path: str) -> None:
    answer = await get(web.web_port, path)
    assert answer.status == 404
    assert len(answer.body) < 64
    assert_secured(answer)


async def test_a_nul_byte_or_a_space_in_the_target_is_a_bad_request(web: ChatServer) -> None:
    for raw in (b"GET /app.js\x00 HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"):
        answer = await exchange(web.web_port, raw)
        assert answer.status == 400
        assert_secured(answer)


async def test_only_get_and_head_are_allowed(web: ChatServer) -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "TRACE", "BREW"):
        answer = await get(web.web_port, "/", method=method)
        assert answer.status == 405, method
        assert answer.headers["allow"] == "GET, HEAD"
        assert_secured(answer)
    upload = await exchange(web.web_port, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
    assert upload.status == 400


async def test_request_limits(web: ChatServer) -> None:
    long_target = await get(web.web_port, "/" + "a" * 5000)
    assert long_target.status == 414
    many = {f"X-Field-{n}": "v" for n in range(80)}
    assert (await get(web.web_port, "/", headers=many)).status == 431
    huge = await exchange(web.web_port, b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
    assert huge.status == 431
    assert (await exchange(web.web_port, b"GET / HTTP/2\r\nHost: x\r\n\r\n")).status == 505
    assert (await exchange(web.web_port, b"GET / HTTP/1.1\r\n\r\n")).status == 400  # no Host


async def test_the_websocket_path_without_an_upgrade_says_so(web: ChatServer) -> None:
    answer = await get(web.web_port, "/ws")
    assert answer.status == 426
    assert_secured(answer)


# -- the table ----------------------------------------------------------------------------------


def test_the_table_leaves_out_dotfiles_symlinks_odd_names_and_unknown_types(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<link href="a.css"><script src="./sub/b.js"></script>')
    (tmp_path / "a.css").write_text("body {}")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.js").write_text("1")
    (tmp_path / ".env").write_text("SECRET=1")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config.txt").write_text("x")
    (tmp_path / "notes.md").write_text("not a served type")
    (tmp_path / "odd name.css").write_text("x")
    outside = tmp_path.parent / "outside.txt"
    outside.write_text("outside")
    os.symlink(outside, tmp_path / "link.txt")
    os.symlink(tmp_path / "sub", tmp_path / "linked")

    site = StaticSite.load(tmp_path)
    assert sorted(site.assets) == ["/", "/a.css", "/index.html", "/sub/b.js"]
    page = site.assets["/index.html"].body.decode()
    a, b = site.assets["/a.css"].version, site.assets["/sub/b.js"].version
    assert page == f'<link href="a.css?v={a}"><script src="./sub/b.js?v={b}"></script>'


def test_the_package_ships_the_web_client() -> None:
    site = StaticSite.load()
    assert {"/", "/index.html", "/app.js", "/app.css", "/ui.js"} <= set(site.assets)


def test_the_web_client_needs_no_build_step_and_never_parses_html() -> None:
    """What the browser runs is what is committed: plain scripts, each one a file the page names,
    no modules to bundle, no sources to compile; and no script hands received text to the HTML
    parser (innerHTML, outerHTML, insertAdjacentHTML, document.write) or to eval."""
    static = importlib.resources.files("chatapp.web").joinpath("static")
    names = sorted(entry.name for entry in static.iterdir() if not entry.name.startswith("."))
    built = (".ts", ".tsx", ".jsx", ".mjs", ".map")
    assert not [n for n in names if n.endswith(built) or n == "package.json"]
    page = static.joinpath("index.html").read_text()
    scripts = re.findall(r'<script src="([^"]+)" defer></script>', page)
    assert sorted(scripts) == sorted(n for n in names if n.endswith(".js"))
    assert "<script>" not in page and "type=\"module\"" not in page and " style=" not in page
    for name in scripts:
        code = static.joinpath(name).read_text()
        for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "import ",
                       "new Function", "localStorage.set", "document.cookie"):
            assert banned not in code, (name, banned)


_SITE = StaticSite.load()


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=60))
def test_any_path_outside_the_table_is_404(path: str) -> None:
    target = "/" + path
    request = RequestHead("GET", target, (("host", "x"),))
    answer = _SITE.respond(request, tls=False)
    status = int(answer.split(b" ", 2)[1])
    assert status == (200 if request.path in _SITE.assets else 404)
