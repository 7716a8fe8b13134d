"""What the ``--workers`` supervisor gives each worker: the same ports (a port 0 picked once), its
own control socket, ``--workers 1 --reuse-port``; and that each worker's flags load."""

from __future__ import annotations

from pathlib import Path

from chatapp.server.config_loading import load_config
from chatapp.server.workers import worker_args

PG = "postgresql+asyncpg://chat:secret@db.example/chat"
ARGV = ["--redis-url", "redis://127.0.0.1/0", "--database-url", PG, "--workers", "3", "--port", "0"]


def test_workers_share_ports_and_each_has_its_own_control_socket(tmp_path: Path) -> None:
    argv = [*ARGV, "--web-port", "0", "--control-socket", str(tmp_path / "c.sock")]
    config = load_config(argv, environ={})
    workers = [load_config(args, environ={}) for args in worker_args(config, argv)]

    assert len(workers) == 3
    assert all(w.workers == 1 and w.reuse_port for w in workers)
    assert len({w.port for w in workers}) == 1 and workers[0].port > 0, "port 0 picked once, for all"
    assert len({w.web_port for w in workers}) == 1 and workers[0].web_port > 0
    assert [w.resolved_control_socket for w in workers] == [tmp_path / f"c.sock.{n}" for n in (1, 2, 3)]
    assert all(w.redis_url == config.redis_url and w.database_url == PG for w in workers)


def test_without_a_control_socket_no_worker_has_one() -> None:
    argv = [*ARGV, "--control-socket", "none"]
    workers = worker_args(load_config(argv, environ={}), argv)
    assert all(load_config(args, environ={}).resolved_control_socket is None for args in workers)
    assert all("--web-port" not in args for args in workers), "no web listener when none was asked for"
