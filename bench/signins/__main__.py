"""``python -m bench.signins --spec spec.json``: run a churn or a registration burst, print its result."""

from __future__ import annotations

import asyncio
import sys

import msgspec

from bench.driver_process import loop_factory, print_result, raise_fd_limit, read_spec
from bench.signins.churn import churn
from bench.signins.registrations import registrations
from bench.signins.spec import RegistrationSpec, unwrap

DESCRIPTION = "Load drivers for signing in under load: churn with catch-up replays, and a registration burst."


def main(argv: list[str] | None = None) -> int:
    raw = read_spec("python -m bench.signins", DESCRIPTION, argv)
    spec = unwrap(raw)
    out: msgspec.Struct
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        if isinstance(spec, RegistrationSpec):
            raise_fd_limit(len(spec.usernames) + 256)
            out = runner.run(registrations(spec))
        else:
            raise_fd_limit(len(spec.tokens) + len(spec.churn_usernames) + 256)
            out = runner.run(churn(spec))
    print_result(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
