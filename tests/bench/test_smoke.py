"""The benchmark machinery, small: real servers, the real driver, correctness only.

These runs check that every message is delivered exactly once and in order per
sender, through the same code ``make bench`` uses. They assert nothing about
speed: a loaded CI machine must not fail them.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from bench.driver.spec import DriverSpec, ReplaySpec, StormSpec
from bench.link import source_address
from bench.markers import Marker
from bench.signins.spec import ChurnSpec, RegistrationSpec, wrap
from bench.stats import percentiles

from bench import accounts, profile, report, servers
from chatapp.server.config import Config

REPO = Path(__file__).resolve().parents[2]


def drive(spec: DriverSpec, timeout: float = 60.0) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.driver", "--spec", "-"],
        input=msgspec.json.encode(spec),
        capture_output=True,
        cwd=REPO,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def assert_all_delivered_once_in_order(
    result: dict[str, Any], *, other: frozenset[str] = frozenset()
) -> None:
    assert result["problems"] == []
    assert not result["timed_out"]
    assert result["verified"]
    assert result["ready_clients"] == result["clients"]
    assert result["counted"] == result["expected"] > 0
    # The warm-up rounds' messages are checked too, though not counted.
    rounds = result["rounds"]
    assert result["received_messages"] == result["expected"] * (rounds + result["warmup_rounds"]) // rounds
    assert result["lost"] == 0
    assert result["duplicated"] == 0
    assert result["out_of_order"] == 0
    assert result["id_order_violations"] == 0
    assert set(result["other_frames"]) <= other
    assert result["disconnected"] == 0
    assert result["latency_ms"]["count"] == result["expected"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> accounts.Accounts:
    # 6 clients at most, plus the filler and the laggard of the replay.
    return accounts.prepare(tmp_path_factory.mktemp("bench") / "template.db", count=8, storm=2)


@pytest.fixture
def chatapp(prepared: accounts.Accounts, tmp_path: Path) -> Iterator[servers.ServerProcess]:
    database = accounts.sqlite_url(prepared.copy_to(tmp_path / "chat.db"))
    server = servers.chatapp_server(database, tmp_path / "server.log")
    try:
        yield server.start()
    finally:
        server.stop(timeout=10)


def chatapp_spec(
    server: servers.ServerProcess, prepared: accounts.Accounts, clients: int, **kwargs: Any
) -> DriverSpec:
    return DriverSpec(
        target="chatapp",
        host=server.host,
        port=server.port,
        clients=clients,
        tokens=prepared.tokens[:clients],
        usernames=prepared.usernames[:clients],
        server_pid=server.pid,
        **kwargs,
    )


def test_chatapp_closed_loop_delivers_everything_once_in_order(
    chatapp: servers.ServerProcess, prepared: accounts.Accounts
) -> None:
    spec = chatapp_spec(chatapp, prepared, 6, senders=3, messages=25, rounds=2, window=4)
    result = drive(spec)
    assert_all_delivered_once_in_order(result)
    assert result["expected"] == 6 * 3 * 25 * 2
    assert result["presence_received"] == 6 * 7 // 2  # each join goes to everyone online then
    assert result["server"]["cpu_send"] is not None
    assert "Traceback" not in chatapp.log()
    # The report renders from such results (without the chart, which needs the bench extra).
    workload = {"key": "a", "title": "(a) smoke", "kind": "throughput", "clients": 6, "description": "smoke"}
    machine = {
        "date": "now",
        "cores": 2,
        "cpu": "cpu",
        "memory_gib": 1,
        "kernel": "k",
        "python": "3",
        "implementation": "CPython",
        "uvloop": None,
        "msgspec": "x",
        "loadavg_start": "0",
    }
    runs = {"chatapp": {"target": "chatapp", "driver": result}}
    text = report.render({"machine": machine, "workloads": [{"workload": workload, "runs": runs}]}, None)
    assert "(a) smoke" in text and "0 lost, 0 duplicated" in text


def test_a_warm_up_round_is_checked_but_not_counted_timed_or_measured(
    chatapp: servers.ServerProcess, prepared: accounts.Accounts
) -> None:
    spec = chatapp_spec(chatapp, prepared, 4, senders=2, messages=20, rounds=1, warmup_rounds=1, window=4)
    result = drive(spec)
    assert_all_delivered_once_in_order(result)
    assert result["expected"] == result["counted"] == 4 * 2 * 20  # the measured round alone
    assert result["received_messages"] == 2 * 4 * 2 * 20  # both rounds, each message once, in order
    assert len(result["round_rates"]) == 1 and result["latency_ms"]["count"] == 4 * 2 * 20


def test_chatapp_open_loop_with_a_login_storm_and_a_replay(
    chatapp: servers.ServerProcess, prepared: accounts.Accounts
) -> None:
    storm = StormSpec(usernames=prepared.storm_usernames, password=prepared.password, start_after=0.05)
    replay = ReplaySpec(
        filler_token=prepared.tokens[-1], laggard_token=prepared.tokens[-2], missed=60, start_after=0.05
    )
    spec = chatapp_spec(chatapp, prepared, 4, senders=2, messages=8, rate=40.0, storm=storm, replay=replay)
    result = drive(spec)
    # The storm's and the laggard's comings and goings are announced to the room while the clock runs.
    assert_all_delivered_once_in_order(result, other=frozenset({"presence"}))
    assert result["storm"]["ok"] == 2
    assert result["storm"]["failed"] == {}
    laggard = result["replay"]
    assert laggard["problems"] == []
    assert laggard["last_fill_id"] - laggard["first_id"] == 59
    assert laggard["replayed"] >= 60
    assert laggard["synced_ms"] is not None
    assert (laggard["gaps"], laggard["duplicated"], laggard["out_of_order"]) == (0, 0, 0)


@pytest.mark.parametrize(
    ("mode", "decode_live"), [("naive", False), ("coalesced", False), ("coalesced", True)]
)
def test_baseline_server_delivers_everything_once_in_order(
    mode: str, decode_live: bool, tmp_path: Path
) -> None:
    server = servers.baseline_server(mode, tmp_path / "baseline.log").start()
    try:
        spec = DriverSpec(
            target="baseline",
            host=server.host,
            port=server.port,
            clients=5,
            senders=2,
            messages=30,
            window=8,
            usernames=[f"user{i}" for i in range(5)],
            server_pid=server.pid,
            decode_live=decode_live,
        )
        result = drive(spec)
    finally:
        assert server.stop(timeout=10) == 0
    assert_all_delivered_once_in_order(result)


def test_decoding_receivers_count_the_same_as_counting_ones(
    chatapp: servers.ServerProcess, prepared: accounts.Accounts
) -> None:
    spec = chatapp_spec(chatapp, prepared, 4, senders=2, messages=20, window=4, decode_live=True)
    assert_all_delivered_once_in_order(drive(spec))


def test_driver_cost_compares_both_receivers_on_both_servers() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.driver_cost", "--clients", "4", "--senders", "2", "--messages", "20"]
        + ["--rounds", "1", "--repeats", "1"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [tuple(cell.strip() for cell in row.split("|")[1:3]) for row in rows] == [
        ("coalesced", "counting"),
        ("coalesced", "decoding"),
        ("chatapp", "counting"),
        ("chatapp", "decoding"),
    ]


# -- pieces -------------------------------------------------------------------------------


def test_marker_counts_occurrences_split_across_chunks() -> None:
    stream = b'xx"text":"B00001:yy"text":"B00002:' * 7
    for size in (1, 2, 3, 5, 11, len(stream)):
        marker = Marker(b'"text":"B')
        chunks = [stream[i : i + size] for i in range(0, len(stream), size)]
        assert sum(marker.feed(chunk) for chunk in chunks) == 14


def test_percentiles_are_nearest_rank() -> None:
    values = [i * 1_000_000 for i in range(1, 101)]  # 1..100 ms
    lat = percentiles(values)
    assert (lat.count, lat.p50, lat.p90, lat.p99, lat.max) == (100, 50.0, 90.0, 99.0, 100.0)
    assert percentiles([]).count == 0


def test_source_addresses_stay_under_the_per_address_and_per_network_limits() -> None:
    addresses = [source_address(i, 20) for i in range(5000)]
    assert max(addresses.count(a) for a in set(addresses)) == 20
    assert all(a.startswith("127.") for a in addresses)
    networks = collections.Counter(a.rsplit(".", 1)[0] for a in addresses)
    assert max(networks.values()) <= Config().max_connections_per_subnet


def test_profile_summary_reads_py_spy_raw_stacks(tmp_path: Path) -> None:
    raw = tmp_path / "p.raw"
    main = "thread (0x1): MainThread;run (asyncio/runners.py:118)"
    raw.write_text(
        f"{main};Outbox.flush (chatapp/server/outbox.py:69) 30\n"
        f"{main};Connection._on_resume (chatapp/server/connection.py:300) 10\n"
        f"{main} 60\n"
        "thread (0x2): Thread-1 (_connection_worker_thread);"
        "_connection_worker_thread (aiosqlite/core.py:63) 5\n"
        "thread (0x1): MainThread;_find_and_load (<frozen importlib._bootstrap>:1176) 99\n"
    )
    summary = profile.summarize(raw)
    assert summary.samples == 105 and summary.excluded == 99
    assert summary.phases["signing in"] == pytest.approx(0.1)
    assert summary.threads == {"event loop (main thread)": 0.9524, "aiosqlite worker threads": 0.0476}
    lines = {e.name: e.share for e in summary.self_lines}
    assert lines == {
        "run (asyncio/runners.py:118)": 0.6667,
        "Outbox.flush (chatapp/server/outbox.py:69)": 0.3333,
    }


def drive_signins(spec: ChurnSpec | RegistrationSpec) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "bench.signins", "--spec", "-"],
        input=wrap(spec),
        capture_output=True,
        cwd=REPO,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def test_churn_and_registration_drivers(tmp_path: Path) -> None:
    prepared = accounts.prepare_churn(
        tmp_path / "churn.db", clients=5, churn=8, missed=40, live_rate=10.0, signin_rate=4.0
    )
    args = (*accounts.TEST_ARGON2_ARGS, "--registrations-per-address", "100")
    database = accounts.sqlite_url(prepared.copy_to(tmp_path / "chat.db"))
    server = servers.chatapp_server(database, tmp_path / "server.log", args)
    server.start()
    try:
        churn = drive_signins(
            ChurnSpec(
                host=server.host,
                port=server.port,
                tokens=prepared.tokens,
                usernames=prepared.usernames,
                resume_last_id=prepared.last_id,
                chatters=2,
                rate=5.0,
                duration=1.0,
                churn_usernames=prepared.churn_usernames,
                churn_password=prepared.password,
                signin_rate=4.0,
            )
        )
        registrations = drive_signins(
            RegistrationSpec(
                host=server.host,
                port=server.port,
                usernames=[f"new{n}" for n in range(10)],
                password=accounts.PASSWORD,  # strong enough for the default --min-password-score
            )
        )
    finally:
        server.stop(timeout=10)
    assert churn["problems"] == [] and churn["ready_clients"] == 5
    assert churn["acked"] == churn["sent"] == 10 and churn["errors"] == {}
    assert churn["ack_ms"]["count"] == 10 and churn["windows"]
    signed = churn["signins"]
    assert signed["attempted"] == signed["ok"] == 4 and signed["failed"] == {}
    # Each of them missed about 40 messages (the backlog, less what was sent since it was made).
    assert signed["replayed_mean"] >= 30
    assert registrations["ready"] == registrations["count"] == 10
    assert registrations["ready_seconds"] is not None and registrations["failed"] == {}
    assert "Traceback" not in server.log()
