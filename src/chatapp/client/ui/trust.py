"""The first-use question about a server certificate that does not verify, asked once before signing in.

Shown on the normal terminal screen, like the sign-in prompts (:mod:`.signin`):
the address, why the certificate does not verify, its SHA-256 fingerprint to
compare with the one the server's operator gives (``chatapp-admin
fingerprint``), and a question only ``yes`` answers. Ctrl-C, Ctrl-D and
``no`` refuse; what is accepted is remembered by the caller
(:mod:`chatapp.client.net.tls`).
"""

from __future__ import annotations

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import DummyHistory

from .sanitize import sanitize
from .signin import PROMPT_STYLE, say

WARNING_STYLE = "bold ansiyellow"


async def ask_trust(address: str, fingerprint: str, why: str) -> bool:
    """True when the user types ``yes`` to trusting ``fingerprint`` for ``address``."""
    say(f"The certificate of {sanitize(address)} does not verify ({sanitize(why)}).", WARNING_STYLE)
    say(f"Its fingerprint is {fingerprint}")
    say("Compare it with the one the server's operator gives you (chatapp-admin fingerprint).")
    say("If you trust it, it is remembered, and a different one is refused from then on.")
    session: PromptSession[str] = PromptSession(history=DummyHistory())
    while True:
        try:
            answer = await session.prompt_async(
                FormattedText([(PROMPT_STYLE, "Trust this certificate? Type yes or no: ")])
            )
        except (KeyboardInterrupt, EOFError):
            return False
        answer = answer.strip().lower()
        if answer == "yes":
            return True
        if answer in ("no", "n"):
            return False
        say("Please type yes or no.")
