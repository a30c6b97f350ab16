"""DATABASE_URL and the shard settings: checked at start-up with a message naming the setting, the
password never shown (--check, logs, errors), and the combinations that cannot work refused."""

from __future__ import annotations

import logging

import pytest

from config.report import check_report
from config.settings import SettingsError, load_settings
from services.redact import RedactingFilter
from services.shards import Shards
from tests.config.test_main_settings import run_main

BASE = {"DISCORD_TOKEN": "t" * 12}
URL = "postgresql://bot:s3cr3t-pa55@db.example:5432/botdb"


def errors_of(**env: str) -> dict[str, str]:
    with pytest.raises(SettingsError) as caught:
        load_settings({**BASE, **env})
    return {e.setting: str(e) for e in getattr(caught.value, "errors", [caught.value])}


@pytest.mark.parametrize(("url", "expected"), [
    ("mysql://bot:pw@host/db", "must start with postgresql://"),
    ("sqlite:///data/bot.db", "must start with postgresql://"),
    ("postgresql://bot:pw@host:99999/db", "valid port"),
    ("postgresql://bot:pw@/db", "names no host"),
    ("postgresql://bot:pw@host:5432", "names no database"),
    ("postgresql://bot:pw@host:5432/", "names no database"),
])
def test_a_bad_database_url_is_named_and_its_password_not_shown(url: str, expected: str) -> None:
    message = errors_of(DATABASE_URL=url)["DATABASE_URL"]
    assert expected in message
    assert ":pw@" not in message


def test_good_database_urls() -> None:
    for url in (URL, "postgres://bot@localhost/bot", "postgresql://bot:pw@[::1]:5433/bot?sslmode=disable"):
        assert load_settings({**BASE, "DATABASE_URL": url}).database_url == url
    assert load_settings(BASE).database_url == ""


def test_the_password_is_masked_in_check_and_in_logs(caplog: pytest.LogCaptureFixture) -> None:
    settings = load_settings({**BASE, "DATABASE_URL": URL})
    report = check_report(settings)
    assert "s3cr3t-pa55" not in report
    assert "DATABASE_URL=postgresql://***@db.example:5432/botdb" in report
    assert "PostgreSQL at db.example:5432/botdb" in report
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "connect failed: password s3cr3t-pa55 for %s",
                               (URL,), None)
    RedactingFilter(settings.secrets()).filter(record)
    assert "s3cr3t-pa55" not in record.getMessage()


def test_a_database_url_makes_database_path_unused(tmp_path) -> None:
    """An unusable DATABASE_PATH does not matter when the data is in PostgreSQL."""
    (tmp_path / "a-file").write_text("")
    unusable = str(tmp_path / "a-file" / "bot.db")
    assert "which is a file" in errors_of(DATABASE_PATH=unusable)["DATABASE_PATH"]
    assert load_settings({**BASE, "DATABASE_PATH": unusable, "DATABASE_URL": URL})


def test_shard_settings() -> None:
    assert load_settings(BASE).home_shards == Shards.every(1)
    assert load_settings({**BASE, "SHARD_COUNT": "4"}).home_shards == Shards.every(4)
    some = load_settings({**BASE, "SHARD_COUNT": "4", "SHARD_IDS": "2, 3", "DATABASE_URL": URL}).home_shards
    assert some == Shards.of(4, [2, 3]) and some.describe() == "shards 2,3 of 4"
    assert "needs SHARD_COUNT" in errors_of(SHARD_IDS="0")["SHARD_IDS"]
    assert "SHARD_COUNT=2 numbers shards 0 to 1" in errors_of(SHARD_COUNT="2", SHARD_IDS="0,2")["SHARD_IDS"]
    assert "twice" in errors_of(SHARD_COUNT="2", SHARD_IDS="1,1")["SHARD_IDS"]
    assert "shard numbers" in errors_of(SHARD_COUNT="2", SHARD_IDS="one")["SHARD_IDS"]
    sqlite = errors_of(SHARD_COUNT="2", SHARD_IDS="1")["SHARD_IDS"]
    assert "SQLite is for one process" in sqlite and "DATABASE_URL" in sqlite
    assert load_settings({**BASE, "SHARD_COUNT": "2", "SHARD_IDS": "0,1"}).home_shards.is_all  # all: SQLite is fine


def test_main_refuses_an_unreachable_database_in_one_line(tmp_path) -> None:
    result = run_main(tmp_path, {**BASE, "DATABASE_URL": "postgresql://bot:hunter22@127.0.0.1:9/bot"})
    assert result.returncode == 1
    assert "cannot connect to PostgreSQL at 127.0.0.1:9/bot" in result.stderr
    assert "hunter22" not in result.stderr + result.stdout and "Traceback" not in result.stderr
