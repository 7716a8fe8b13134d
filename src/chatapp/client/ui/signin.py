"""Signing in before the chat screen opens: the "1) Log in  2) Register" dialogue.

Runs on the normal terminal screen with prompt_toolkit prompts (hidden input
for passwords). Refusals from the server are shown as sentences and the user
tries again; nothing here needs a restart. An account signed in elsewhere is
offered to be taken over with the password just typed. With a password from
standard input (``--password-stdin``) there is exactly one attempt and no
prompt (``--takeover`` decides that question beforehand).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from prompt_toolkit import PromptSession, print_formatted_text
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import DummyHistory

from chatapp.protocol import AuthOk, ErrorCode, ProtocolError
from chatapp.protocol.rules import check_password, check_username

from ..net.errors import AuthError, ConnectError
from ..net.session import ChatSession
from .sanitize import sanitize
from .sentences import describe_error

PROMPT_STYLE = "bold"


class SignInCancelled(Exception):
    """The user pressed Ctrl-C or Ctrl-D at a prompt. ``interrupted`` is True for Ctrl-C."""

    def __init__(self, interrupted: bool) -> None:
        super().__init__("cancelled")
        self.interrupted = interrupted


class SignInFailed(Exception):
    """Signing in cannot succeed without the user's help (non-interactive), or the server is gone."""


@dataclasses.dataclass(frozen=True, slots=True)
class SignInOptions:
    username: str | None = None
    register: bool = False
    password: str | None = None
    """Given on standard input: one attempt, no prompts."""
    takeover: bool = False
    """End a session of the account signed in elsewhere instead of being refused."""

    def __repr__(self) -> str:
        return (
            f"SignInOptions(username={self.username!r}, register={self.register!r}, password=<hidden>, "
            f"takeover={self.takeover!r})"
        )


def say(text: str, style: str = "") -> None:
    """One line on the terminal (through prompt_toolkit, so tests can capture it)."""
    print_formatted_text(FormattedText([(style, text)]))


def _refusal(exc: ProtocolError) -> str:
    return describe_error(exc.code, exc.message)


async def sign_in(
    session: ChatSession, options: SignInOptions, on_password: Callable[[str], None] | None = None
) -> AuthOk:
    """Sign in (or register) on a connected session; returns the server's ``auth_ok``.

    ``on_password`` is given the password that signed in (what unlocks this
    device's end-to-end keys: :mod:`.devicekeys`).

    Raises :class:`SignInCancelled` when the user gives up and
    :class:`SignInFailed` when a scripted attempt is refused or the server
    cannot be reached any more.
    """
    if options.password is not None:
        auth = await _scripted(session, options, options.password)
        if on_password is not None:
            on_password(options.password)
        return auth
    return await _interactive(session, options, on_password)


async def _scripted(session: ChatSession, options: SignInOptions, password: str) -> AuthOk:
    username = options.username
    if not username:
        raise SignInFailed("--password-stdin needs --user")
    try:
        check_username(username)
        if options.register:
            check_password(username, password)
    except ProtocolError as exc:
        raise SignInFailed(_refusal(exc)) from None
    try:
        if options.register:
            return await session.register(username, password)
        return await session.login(username, password, takeover=options.takeover)
    except AuthError as exc:
        why = describe_error(exc.code, exc.message, exc.retry_after, until=exc.until)
        if exc.code == ErrorCode.ALREADY_LOGGED_IN:
            why += " (--takeover takes it over.)"
        raise SignInFailed(why) from None
    except ConnectError as exc:
        raise SignInFailed(f"lost the connection to {session.address}: {exc.detail}") from None


def _password_fits(username: str, password: str) -> bool:
    try:
        check_password(username, password)
    except ProtocolError:
        return False
    return True


class _Dialogue:
    def __init__(self) -> None:
        self._text: PromptSession[str] = PromptSession()
        self._secret: PromptSession[str] = PromptSession(history=DummyHistory())  # never keep a password

    async def ask(self, label: str, *, secret: bool = False, default: str = "") -> str:
        prompt = self._secret if secret else self._text
        try:
            return await prompt.prompt_async(
                FormattedText([(PROMPT_STYLE, label)]), is_password=secret, default=default
            )
        except KeyboardInterrupt:
            raise SignInCancelled(interrupted=True) from None
        except EOFError:
            raise SignInCancelled(interrupted=False) from None

    async def choice(self) -> bool:
        """True to register, False to log in."""
        say("1) Log in  2) Register")
        while True:
            answer = (await self.ask("Choice: ")).strip().lower()
            if answer in ("1", "l", "login", "log in"):
                return False
            if answer in ("2", "r", "register"):
                return True
            say("Please type 1 to log in or 2 to register (Ctrl-D to leave).")

    async def confirm(self, question: str) -> bool:
        """A yes/no question; anything but yes is no."""
        answer = (await self.ask(f"{question} [y/N] ")).strip().lower()
        return answer in ("y", "yes")

    async def username(self, default: str = "") -> str:
        while True:
            name = (await self.ask("Username: ", default=default)).strip()
            default = ""
            try:
                check_username(name)
            except ProtocolError as exc:
                say(f"That username is not valid: {exc.message}.")
                continue
            return name

    async def password(self, username: str, register: bool) -> str:
        while True:
            password = await self.ask("Password: ", secret=True)
            if not password:
                say("The password is empty; please type it (Ctrl-D to leave).")
                continue
            if not register:
                return password
            try:
                check_password(username, password)
            except ProtocolError as exc:
                say(f"That password is not accepted: {exc.message}.")
                continue
            again = await self.ask("Password again: ", secret=True)
            if again != password:
                say("The passwords do not match; please try again.")
                continue
            return password


async def _interactive(
    session: ChatSession, options: SignInOptions, on_password: Callable[[str], None] | None
) -> AuthOk:
    dialogue = _Dialogue()
    welcome = session.welcome
    server = f" ({sanitize(welcome.server)})" if welcome else ""
    say(f"Connected to {session.address}{server}.")
    fixed_user = options.username
    while True:
        if fixed_user:
            register = options.register
            username = fixed_user
            say(f"{'Registering' if register else 'Signing in as'} {username}"
                f"{' (choose a password)' if register else ''}.")
        else:
            register = await dialogue.choice()
            username = await dialogue.username()
        password = await dialogue.password(username, register)
        takeover = options.takeover
        while True:
            try:
                if register:
                    auth = await session.register(username, password)
                else:
                    auth = await session.login(username, password, takeover=takeover)
                if on_password is not None:
                    on_password(password)
                return auth
            except AuthError as exc:
                say(describe_error(exc.code, exc.message, exc.retry_after, until=exc.until), "class:error")
                if exc.code == ErrorCode.ALREADY_LOGGED_IN and not takeover:
                    # The password was right: offer to end the other session with it, no retyping.
                    takeover = await dialogue.confirm("Take that session over? It will be signed out.")
                    if takeover:
                        continue
                if register and exc.code in (ErrorCode.USERNAME_TAKEN, ErrorCode.INVALID_USERNAME):
                    # Only the name was wrong: ask for another one and keep the password typed twice.
                    fixed_user = None
                    username = await dialogue.username()
                    if _password_fits(username, password):
                        continue
                    say("That password cannot go with this username; please choose another one.")
                    password = await dialogue.password(username, register)
                    continue
                break
            except ConnectError as exc:
                raise SignInFailed(f"lost the connection to {session.address}: {exc.detail}") from None
