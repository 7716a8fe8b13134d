"""Settings from flags and the environment: precedence, conversions, and what is refused."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from chatapp.server.config import ENV_PREFIX, Config, database_url_from_env
from chatapp.server.config_checks import validate
from chatapp.server.config_loading import build_parser, load_config


def test_defaults_when_nothing_is_given() -> None:
    assert load_config([], environ={}) == Config()


def test_a_flag_beats_the_environment_which_beats_the_default() -> None:
    environ = {"CHATAPP_PORT": "8000", "CHATAPP_SEND_RATE": "5.5"}
    config = load_config(["--port", "9000"], environ=environ)
    assert config.port == 9000 and config.send_rate == 5.5
    assert config.send_burst == Config().send_burst


def test_an_empty_environment_variable_is_not_set() -> None:
    assert load_config([], environ={"CHATAPP_HOST": ""}).host == Config().host


@pytest.mark.parametrize(
    ("text", "value"), [("1", True), ("yes", True), ("On", True), ("0", False), ("off", False), ("NO", False)]
)
def test_booleans_from_the_environment(text: str, value: bool) -> None:
    assert load_config([], environ={"CHATAPP_HISTORY": text}).history is value


def test_boolean_flags_come_in_pairs() -> None:
    assert load_config(["--no-history"], environ={"CHATAPP_HISTORY": "yes"}).history is False
    assert load_config(["--history"], environ={"CHATAPP_HISTORY": "no"}).history is True


@pytest.mark.parametrize(
    ("environ", "said"),
    [
        ({"CHATAPP_PORT": "seven"}, "CHATAPP_PORT='seven' is not a valid int"),
        ({"CHATAPP_HISTORY": "maybe"}, "CHATAPP_HISTORY='maybe' is not a valid bool"),
        ({"CHATAPP_DUPLICATE_LOGIN": "ignore"}, "CHATAPP_DUPLICATE_LOGIN must be one of reject, replace"),
        ({"CHATAPP_PORT": "70000"}, "--port must be between 0 and 65535"),
    ],
)
def test_a_bad_environment_value_is_a_usage_error(
    environ: dict[str, str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        load_config([], environ=environ)
    assert exited.value.code == 2
    assert said in capsys.readouterr().err


def test_a_bad_flag_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_config(["--duplicate-login", "ignore"], environ={})
    assert "invalid choice" in capsys.readouterr().err


def test_every_setting_has_a_flag_that_names_its_variable() -> None:
    help_text = build_parser().format_help()
    for field in dataclasses.fields(Config):
        assert "--" + field.name.replace("_", "-") in help_text
        assert ENV_PREFIX + field.name.upper() in help_text


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"max_frame": 512}, "--max-frame must be at least 1024 bytes"),
        ({"close_grace": 0.0}, "--close-grace must be positive"),
        ({"send_burst": 0}, "--send-burst must be at least 1"),
        ({"ipv6_subnet_prefix": 129}, "--ipv6-subnet-prefix must be between 0 and 128"),
        ({"history_days": -1}, "--history-days must be 0 (keep forever) or more"),
        ({"max_file_size": -1}, "--max-file-size must be 0 (no file sharing) or more"),
        ({"file_quota": 0}, "--file-quota must be at least 1"),
        ({"files_budget": 0}, "--files-budget must be at least 1"),
        ({"max_uploads": 0}, "--max-uploads must be at least 1"),
        ({"file_expiry": 0.0}, "--file-expiry must be positive"),
    ],
)
def test_values_out_of_range_are_named(change: dict[str, object], said: str) -> None:
    assert validate(dataclasses.replace(Config(), **change)) == said  # type: ignore[arg-type]


def test_the_database_url_for_tools_comes_from_the_same_variable() -> None:
    assert (
        database_url_from_env({"CHATAPP_DATABASE_URL": "sqlite+aiosqlite:///x.db"})
        == "sqlite+aiosqlite:///x.db"
    )
    assert database_url_from_env({}).startswith("sqlite+aiosqlite:///")


def test_tls_settings_from_flags_and_the_environment() -> None:
    config = load_config(["--tls", "self-signed", "--tls-port", "0", "--no-plain"], environ={})
    assert (config.tls, config.tls_port, config.plain, config.tls_enabled) == ("self-signed", 0, False, True)
    from_env = load_config([], environ={"CHATAPP_TLS_CERT": "/c.pem", "CHATAPP_TLS_KEY": "/k.pem"})
    assert from_env.tls_enabled and from_env.tls_port == 7778
    assert not Config().tls_enabled


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"tls_cert": "/c.pem"}, "--tls-cert and --tls-key go together"),
        ({"tls_key": "/k.pem"}, "--tls-cert and --tls-key go together"),
        ({"tls": "self-signed", "tls_cert": "/c.pem", "tls_key": "/k.pem"}, "exclusive"),
        ({"plain": False}, "--no-plain leaves no listener"),
        ({"tls": "self-signed", "port": 7000, "tls_port": 7000}, "either plain or TLS"),
        ({"tls_port": 70000}, "--tls-port must be between"),
        ({"tls_handshake_timeout": 0.0}, "--tls-handshake-timeout must be positive"),
    ],
)
def test_tls_settings_that_cannot_work_are_refused(settings: dict[str, object], problem: str) -> None:
    message = validate(dataclasses.replace(Config(), **settings))
    assert message is not None and problem in message


def test_an_unknown_tls_mode_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        load_config(["--tls", "yes"], environ={})
    assert "self-signed" in capsys.readouterr().err


def test_web_settings_from_flags_and_the_environment() -> None:
    assert not Config().web_enabled
    config = load_config(
        ["--web-port", "8080", "--web-origin", "https://chat.example.com", "--web-origin", "http://localhost:8080"],
        environ={"CHATAPP_WEB_ORIGIN": "https://ignored.example"},
    )
    assert config.web_enabled and config.web_port == 8080 and config.web_tls_port == -1
    assert config.web_origin == ("https://chat.example.com", "http://localhost:8080")
    from_env = load_config(
        [], environ={"CHATAPP_WEB_PORT": "0", "CHATAPP_WEB_ORIGIN": "https://a.example, https://b.example"}
    )
    assert from_env.web_port == 0 and from_env.web_origin == ("https://a.example", "https://b.example")
    tls = load_config(["--tls", "self-signed", "--web-tls-port", "8443"], environ={})
    assert tls.web_tls_port == 8443 and tls.web_port == -1


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"web_tls_port": 8443}, "--web-tls-port needs a certificate"),
        ({"web_port": 70000}, "--web-port must be between 0 and 65535"),
        ({"web_port": 7777}, "--port and --web-port are both 7777"),
        ({"tls": "self-signed", "web_port": 8080, "web_tls_port": 8080}, "--web-port and --web-tls-port"),
        ({"web_port": 8080, "web_origin": ("chat.example.com",)}, "is not an origin"),
        ({"web_port": 8080, "web_origin": ("https://chat.example.com/",)}, "is not an origin"),
        ({"web_request_timeout": 0.0}, "--web-request-timeout must be positive"),
    ],
)
def test_web_settings_that_cannot_work_are_refused(settings: dict[str, object], problem: str) -> None:
    message = validate(dataclasses.replace(Config(), **settings))  # type: ignore[arg-type]
    assert message is not None and problem in message, message


def test_the_web_ports_say_off_in_the_help() -> None:
    help_text = " ".join(build_parser().format_help().split())
    assert "(env CHATAPP_WEB_PORT; default off)" in help_text
    assert "(env CHATAPP_WEB_TLS_PORT; default off)" in help_text


def test_the_files_directory_is_beside_the_sqlite_database_unless_given(tmp_path: Path) -> None:
    sqlite = Config(database_url=f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}")
    assert sqlite.resolved_files_dir == tmp_path / "files"
    given = dataclasses.replace(sqlite, files_dir=str(tmp_path / "elsewhere"))
    assert given.resolved_files_dir == tmp_path / "elsewhere"
    # File sharing needs stored messages (a file is read through the message that posts it).
    assert sqlite.files_enabled
    assert not dataclasses.replace(sqlite, history=False).files_enabled
    assert not dataclasses.replace(sqlite, max_file_size=0).files_enabled


PG = "postgresql+asyncpg://chat:secret@db.example/chat"


def test_a_redis_url_with_postgresql_is_taken_from_the_flag_or_the_environment() -> None:
    given = load_config(["--redis-url", "redis://127.0.0.1:6379/0", "--database-url", PG], environ={})
    assert given.redis_url == "redis://127.0.0.1:6379/0"
    from_env = load_config([], environ={"CHATAPP_REDIS_URL": "rediss://cache/1", "CHATAPP_DATABASE_URL": PG})
    assert from_env.redis_url == "rediss://cache/1"
    assert load_config([], environ={}).redis_url == ""  # one process, as before


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {"redis_url": "redis://127.0.0.1/0"},
            "--redis-url needs a PostgreSQL database (--database-url postgresql+asyncpg://...): "
            "several processes share PostgreSQL, never an SQLite file",
        ),
        (
            {"redis_url": "redis://127.0.0.1/0", "database_url": PG, "history": False},
            "--redis-url needs the message history: --no-history has no commits for the processes to share",
        ),
        (
            {"redis_url": "http://cache", "database_url": PG},
            "--redis-url must be redis://HOST[:PORT][/DB], rediss://HOST[:PORT][/DB] or unix://PATH",
        ),
    ],
)
def test_a_redis_url_that_cannot_work_is_refused(settings: dict[str, object], problem: str) -> None:
    assert validate(dataclasses.replace(Config(), **settings)) == problem  # type: ignore[arg-type]


@pytest.mark.parametrize("missing", ["redis", "hiredis"])  # the extra brings both
def test_a_redis_url_without_the_client_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, missing, None)  # what find_spec reports for a missing package
    with pytest.raises(SystemExit):
        load_config(["--redis-url", "redis://127.0.0.1/0", "--database-url", PG], environ={})
    assert "--redis-url needs the Redis client: pip install 'chatapp[redis]'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (
            {"workers": 2, "database_url": PG},
            "--workers more than 1 needs --redis-url and a PostgreSQL database (--database-url "
            "postgresql+asyncpg://...), through which the worker processes share messages and data",
        ),
        (
            {"workers": 2},
            "--workers more than 1 needs --redis-url and a PostgreSQL database (--database-url "
            "postgresql+asyncpg://...), through which the worker processes share messages and data",
        ),
        ({"workers": 0}, "--workers must be from 1 to 64"),
        (
            {"workers": 65, "redis_url": "redis://127.0.0.1/0", "database_url": PG},
            "--workers must be from 1 to 64",
        ),
    ],
)
def test_workers_that_cannot_work_are_refused(settings: dict[str, object], problem: str) -> None:
    assert validate(dataclasses.replace(Config(), **settings)) == problem  # type: ignore[arg-type]


def test_several_workers_with_redis_and_postgresql_are_taken() -> None:
    config = load_config(
        ["--workers", "4", "--redis-url", "redis://127.0.0.1/0", "--database-url", PG], environ={}
    )
    assert config.workers == 4 and not config.reuse_port  # the supervisor sets it for its workers
    assert load_config([], environ={}).workers == 1
