"""The server config from command-line flags and ``CHATAPP_*`` environment variables.

This is the only module that reads the environment or the command line for the
server. Precedence: command-line flag, then environment variable, then default.
Each field of :class:`~chatapp.server.config.Config` is one flag and one
variable; ``--help`` is made from the fields' own help and defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chatapp import __version__
from chatapp.server import descriptors
from chatapp.server.config import ENV_PREFIX, Config, flag
from chatapp.server.config_checks import validate


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _converter(kind: type) -> Callable[[str], Any]:
    if kind is bool:
        return _parse_bool
    return _parse_list if kind is tuple else kind


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chatapp-server",
        description="Run the chatapp server. Every flag can also be set with the environment "
        f"variable shown (flags win). Version {__version__}.",
    )
    for field in dataclasses.fields(Config):
        kind = type(field.default)
        env = ENV_PREFIX + field.name.upper()
        meta = field.metadata
        if kind is bool:
            parser.add_argument(
                flag(field.name),
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{meta['help']} (env {env}; default {'on' if field.default else 'off'})",
            )
            continue
        shown = meta["shown"] if meta["shown"] is not None else repr(field.default)
        if isinstance(field.default, tuple):  # repeatable: each flag adds one
            parser.add_argument(
                flag(field.name),
                dest=field.name,
                action="append",
                default=None,
                metavar=field.name.upper(),
                help=f"{meta['help']} (env {env}; default {shown})",
            )
            continue
        parser.add_argument(
            flag(field.name),
            dest=field.name,
            type=_converter(kind),
            choices=meta["choices"],
            default=None,
            metavar=None if meta["choices"] else field.name.upper(),
            help=f"{meta['help']} (env {env}; default {shown})",
        )
    parser.add_argument("--version", action="version", version=f"chatapp-server {__version__}")
    return parser


def load_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Build the config from command-line flags and the environment.

    Exits with a usage message (argparse) on a bad flag or env value.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for field in dataclasses.fields(Config):
        given = getattr(args, field.name)
        if given is not None:
            values[field.name] = tuple(given) if isinstance(given, list) else given
            continue
        raw = env.get(ENV_PREFIX + field.name.upper())
        if raw is None or raw == "":
            continue
        try:
            value = _converter(type(field.default))(raw)
        except ValueError:
            parser.error(
                f"{ENV_PREFIX}{field.name.upper()}={raw!r} is not a valid {type(field.default).__name__}"
            )
        choices = field.metadata["choices"]
        if choices and value not in choices:
            parser.error(f"{ENV_PREFIX}{field.name.upper()} must be one of {', '.join(choices)}")
        values[field.name] = value
    config = Config(**values)
    problem = validate(config, descriptors.hard_limit())
    if problem:
        parser.error(problem)
    return config
