"""Headless Chromium for browser tests: Debian's ``/usr/bin/chromium``, driven by Playwright.

Playwright never downloads a browser here (``PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1`` in the
Makefile and .ci/run; its own builds are not used): it drives the system's Chromium, which
.ci/run installs from Debian. Without it, the browser tests are skipped with one line naming
the package to install.

``browser_context`` is a fresh profile per test (its own user data directory under the
test's tmp_path: no cookies, storage or cache shared between tests); open pages with
``await browser_context.new_page()``. Each page's console errors and uncaught exceptions are
collected in ``page_errors(page)``, so a test can assert that a page ran cleanly (a
Content-Security-Policy violation is a console error).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
MISSING = "browser tests need Debian's Chromium at /usr/bin/chromium: apt-get install -y chromium"

# Chromium's own background traffic (component updates, sync, safe browsing, QUIC probes) only meets
# this machine's closed network: turned off, as the machine's notes say.
FLAGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch_args() -> list[str]:
    # Chromium's sandbox refuses to run as root (CI runs as root); elsewhere it stays on.
    return [*FLAGS, "--no-sandbox"] if os.geteuid() == 0 else list(FLAGS)


@pytest.fixture
async def browser_context(tmp_path: Path) -> AsyncIterator[object]:
    """A headless Chromium with a fresh profile (a ``playwright.async_api.BrowserContext``)."""
    if not CHROMIUM.exists():
        pytest.skip(MISSING)
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=launch_args(),
        )
        context.on("page", _collect_errors)
        try:
            yield context
        finally:
            await context.close()


_ERRORS: dict[int, list[str]] = {}


def _collect_errors(page: object) -> None:
    errors = _ERRORS.setdefault(id(page), [])
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: errors.append(str(error)))  # type: ignore[attr-defined]


def page_errors(page: object) -> list[str]:
    """The console errors and uncaught exceptions of ``page`` so far."""
    return list(_ERRORS.get(id(page), []))
