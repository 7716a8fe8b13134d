"""The name a downloaded file is saved under: never a path taken from the sender. Pure, except :func:`place`.

A file's name comes from whoever uploaded it, so it is treated as hostile:
:func:`safe_name` turns any string into one plain file name that stays inside
the download directory on every common system:

- no directory part: ``/`` and ``\\`` become ``_`` (so ``../../etc/passwd``
  is ``.._.._etc_passwd`` made harmless below, never a path), and so do the
  characters Windows refuses (``<>:"|?*``);
- no control characters (C0, DEL, C1), no format characters (bidi overrides
  and isolates that make ``txt.exe`` read as ``exe.txt``, zero-width
  characters, tags), no lone surrogates, no line separators: all removed;
- no leading or trailing dots and spaces (no ``.``, ``..``, hidden files, or
  names Windows silently trims);
- not a reserved device name (``con``, ``nul``, ``com1``, ``lpt9``, ...
  with any extension, in any case): a ``_`` is put in front;
- never empty (``file``), and at most :data:`MAX_NAME_BYTES` bytes of UTF-8
  (the extension is kept when shortened), which leaves room for a clash
  suffix and the temporary name below the usual 255-byte limit.

:func:`place` then links a finished file into the directory under that name,
or ``name (1).ext``, ``name (2).ext``, ... when it is taken: never over an
existing file, atomically (a hard link fails when the name exists).
"""

from __future__ import annotations

import errno
import os
import unicodedata
from pathlib import Path

MAX_NAME_BYTES = 200
"""Longest safe name in UTF-8 bytes (255 is the common limit; a suffix and ``.part`` must fit)."""
MAX_EXTENSION_CHARS = 16
"""An extension longer than this is not kept apart when a long name is shortened."""
FALLBACK = "file"
MAX_CLASHES = 10_000

_REPLACED = frozenset('/\\<>:"|?*')
_RESERVED = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"com{n}" for n in "0123456789¹²³"}
    | {f"lpt{n}" for n in "0123456789¹²³"}
)
_STRIPPED = " .\t"


def _keep(char: str) -> str:
    if char in _REPLACED:
        return "_"
    category = unicodedata.category(char)
    if category in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"):
        return ""
    if category == "Zs":
        return " "  # no-break and other odd spaces: a plain one
    return char


def _shorten(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > MAX_EXTENSION_CHARS:
        stem, extension = name, ""
    suffix = "." + extension if extension else ""
    room = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    return cut.rstrip(_STRIPPED) + suffix


def safe_name(name: str) -> str:
    """A plain, harmless file name for ``name`` (see the module docstring); idempotent."""
    cleaned = unicodedata.normalize("NFC", "".join(_keep(char) for char in name))
    # NFC can compose a character that a rule above would treat differently: clean once more.
    cleaned = "".join(_keep(char) for char in cleaned).strip(_STRIPPED)
    cleaned = _shorten(cleaned).strip(_STRIPPED)
    if not cleaned:
        return FALLBACK
    if cleaned.split(".", 1)[0].rstrip(" ").lower() in _RESERVED:
        cleaned = _shorten("_" + cleaned)
    return cleaned


def with_suffix_number(name: str, number: int) -> str:
    """``report (2).pdf`` for ``report.pdf`` and 2; the result is still a safe name."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, ""
    suffix = f" ({number})" + ("." + extension if extension else "")
    room = MAX_NAME_BYTES - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore").rstrip(_STRIPPED)
    return (cut or FALLBACK) + suffix


def place(finished: Path, directory: Path, name: str) -> Path:
    """Give the finished file ``finished`` (in ``directory``) the safe name ``name``, or a numbered one.

    Blocking (run it in an executor). Never replaces an existing file: the
    name is taken with a hard link, which fails when it exists; where hard
    links are not supported, with an exclusive create and a rename.
    """
    for number in range(MAX_CLASHES):
        target = directory / (name if number == 0 else with_suffix_number(name, number))
        try:
            os.link(finished, target)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            try:
                fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                continue
            os.close(fd)
            os.replace(finished, target)
            return target
        os.unlink(finished)
        return target
    raise FileExistsError(f"no free name for {name} in {directory}")
