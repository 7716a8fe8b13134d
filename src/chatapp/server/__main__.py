"""``chatapp-server``: parse settings, pick the event loop, run, exit with a clear message."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from chatapp.server import activity, descriptors
from chatapp.server.app import serve
from chatapp.server.config import Config
from chatapp.server.config_loading import load_config
from chatapp.server.filters import FilterFileError
from chatapp.server.store import SchemaOutOfDate, StoreError
from chatapp.server.tls import TlsSetupError
from chatapp.server.transport.control import ControlSocketError
from chatapp.server.workers import Supervisor

log = logging.getLogger("chatapp.server")


def _loop_factory(choice: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop factory, or None for asyncio's own loop; ImportError if uvloop is demanded
    but missing."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise
        return None
    return uvloop.new_event_loop


def main(argv: Sequence[str] | None = None) -> int:
    config = load_config(argv)
    listener = activity.configure_logging(config.log_level)
    try:
        if config.workers > 1:
            return Supervisor(config, sys.argv[1:] if argv is None else argv).run()
        return _run(config)
    finally:
        listener.stop()  # writes every line still queued


def _run(config: Config) -> int:
    try:
        factory = _loop_factory(config.event_loop)
    except ImportError:
        print(
            "chatapp-server: --event-loop uvloop, but uvloop is not installed "
            "(pip install 'chatapp[fast]', or use --event-loop auto)",
            file=sys.stderr,
        )
        return 2
    # Each connection is a descriptor: use all the system grants (the limit in force is logged
    # with the connection limit it allows, as event=capacity).
    descriptors.raise_limit()
    log.info(
        "event=starting loop=%s database=%s",
        "uvloop" if factory else "asyncio",
        config.resolved_database_url.split("://", 1)[0],
    )
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve(config))
    except (SchemaOutOfDate, FilterFileError, TlsSetupError) as exc:
        print(f"chatapp-server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        # One line that says what failed (the database's errors say what to do: see
        # store.startup); the traceback only for whoever asked for debug output.
        if config.log_level == "debug":
            log.debug("start-up failed", exc_info=exc)
        print(f"chatapp-server: cannot start: {_one_line(exc)}", file=sys.stderr)
        return 1
    activity.record("stopped")
    return 0


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, StoreError | OSError | ControlSocketError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
