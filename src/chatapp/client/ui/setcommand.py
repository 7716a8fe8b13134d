"""``/set``: list the settings, show one, or change one (applied at once and saved). Parsing and doing."""

from __future__ import annotations

from .. import settings as keys
from ..settings_store import SettingsStore
from . import actions
from .actions import Action
from .command_base import Command, bad
from .model import ChatModel
from .sanitize import sanitize

RESET = "--default"


def _parse_set(command: Command, args: str) -> Action:
    name, _, value = args.strip().partition(" ")
    if not name:
        return actions.SetOption()
    if keys.BY_NAME.get(name.lower()) is None:
        return bad(command, f"There is no setting {name!r}; /set lists them")
    return actions.SetOption(name.lower(), value.strip() or None)


SET_COMMAND = Command(
    "set", f"list the settings, show KEY, or set it to VALUE and save ({RESET}: back to the default)",
    _parse_set, usage="[KEY [VALUE]]", completes="choice", choices=tuple(key.name for key in keys.KEYS),
)


def perform_set(chat: ChatModel, action: actions.SetOption) -> bool:
    """Carry out ``/set``; True keeps the line in the input (a value that does not fit)."""
    store = chat.settings
    if action.key is None:
        chat.note(_listing(store))
        chat.log.scroll_to_end()
        return False
    key = keys.BY_NAME[action.key]
    if action.value is None:
        value = store.current.value(key.name)
        default = key.show(getattr(keys.Settings(), key.name))
        chat.note(f"{key.name} = {sanitize(key.show(value))}: {key.summary} (default {default}).")
        return False
    try:
        value = getattr(keys.Settings(), key.name) if action.value == RESET else key.parse(action.value)
    except keys.BadValue as exc:
        chat.note(f"{key.name} must be {exc}; nothing was changed.", level="error")
        return True
    try:
        where = store.change(key.name, value)
    except OSError as exc:
        chat.note(f"{key.name} is now {sanitize(key.show(value))} for this run, but the settings file could "
                  f"not be written ({exc.strerror or exc}).", level="error")
        return False
    later = "" if key.live else "; it takes effect at the next start"
    chat.note(f"{key.name} is now {sanitize(key.show(value))} ({sanitize(where)}){later}.", level="ok")
    return False


def _listing(store: SettingsStore) -> str:
    width = max(len(key.name) for key in keys.KEYS)
    where = store.path if store.path is not None else "not saved: no settings file"
    lines = [f"Settings ({where}); /set KEY VALUE changes one:"]
    for key in keys.KEYS:
        shown = sanitize(key.show(store.current.value(key.name)))
        lines.append(f"  {key.name:<{width}} = {shown}")
    for name in store.current.unknown:
        lines.append(f"  {sanitize(name):<{width}}   (not known to this client; kept in the file)")
    return "\n".join(lines)
