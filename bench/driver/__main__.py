"""``python -m bench.driver --spec spec.json``: run the load driver, print its result as JSON."""

from __future__ import annotations

import asyncio
import sys

import msgspec

from bench.driver.phases import drive
from bench.driver.spec import DriverSpec
from bench.driver_process import loop_factory, print_result, raise_fd_limit, read_spec


def main(argv: list[str] | None = None) -> int:
    raw = read_spec("python -m bench.driver", "chatapp load driver", argv)
    spec = msgspec.json.decode(raw, type=DriverSpec)
    raise_fd_limit(spec.clients + (len(spec.storm.usernames) if spec.storm else 0) + 256)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        result = runner.run(drive(spec))
    print_result(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
