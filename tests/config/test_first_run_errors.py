"""What a newcomer hits on a first run, as the real `python main.py` process: every problem is one line
naming its cause, exit status 2 (settings) or 1 (the outside world), never a traceback."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.config.test_main_settings import ROOT, run_main

TOKEN = {"DISCORD_TOKEN": "x" * 20}


def one_line(text: str) -> str:
    assert "Traceback" not in text, text
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    return lines[0]


def error_lines(output: str) -> list[str]:
    assert "Traceback" not in output, output
    return [line for line in output.splitlines() if " ERROR " in line or "error" in line.split(":")[0].lower()]


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "a-folder").mkdir()
    return {"through a file": str(tmp_path / "a-file" / "bot.db"), "a folder": str(tmp_path / "a-folder")}


@pytest.mark.parametrize(("place", "expected"), [("through a file", "which is a file, not a folder"),
                                                 ("a folder", "is a folder")])
@pytest.mark.parametrize("check", [True, False], ids=["--check", "start"])
def test_unusable_database_path_is_one_line(tmp_path, places, place, expected, check):
    args = ("--check",) if check else ()
    result = run_main(tmp_path, {**TOKEN, "DATABASE_PATH": places[place], "LOG_FILE_ENABLED": "true"}, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_line(result.stderr)
    assert line.startswith("Configuration error: DATABASE_PATH") and expected in line


def test_a_folder_that_cannot_be_created_is_caught_by_check(tmp_path):
    parent = Path("/proc/1")
    if not parent.is_dir() or os.access(parent, os.W_OK):
        pytest.skip("needs a folder this user cannot write to")
    result = run_main(tmp_path, {**TOKEN, "DATABASE_PATH": "/proc/1/bot-data/bot.db"}, "--check")
    assert result.returncode == 2
    assert "cannot be created: /proc/1 is not writable" in one_line(result.stderr)


def test_a_folder_that_cannot_be_created_at_start_is_one_line(tmp_path):
    """/proc accepts no new folder even from root, though access() says it may: only mkdir can tell."""
    result = run_main(tmp_path, {**TOKEN, "DATABASE_PATH": "/proc/no-such-folder/bot.db"})
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "DATABASE_PATH" in line and "/proc/no-such-folder" in line


def test_check_reports_every_error_not_only_the_first(tmp_path, places):
    env = {"LLM_PROVIDER": "openrouter", "LLM_FALLBACK_ENABLED": "true", "API_REQUEST_TIMEOUT": "soon",
           "DATABASE_PATH": places["a folder"], "LOG_LEVEL": "LOUD"}
    result = run_main(tmp_path, env, "--check")
    assert result.returncode == 2 and result.stdout == ""
    named = [re.match(r"Configuration error: (\w+) ", line).group(1) for line in result.stderr.splitlines()]
    # In .env.example's order, so they read like the file being fixed.
    assert named == ["DISCORD_TOKEN", "DATABASE_PATH", "LOG_LEVEL", "OPENROUTER_API_KEY", "LLM_FALLBACK_MODELS",
                     "API_REQUEST_TIMEOUT"], result.stderr


def test_missing_env_file_fails(tmp_path):
    result = run_main(tmp_path, TOKEN, "--check", "--env-file", "prod.env")
    assert result.returncode == 2
    assert one_line(result.stderr) == "Configuration error: --env-file prod.env: no such file"


def test_check_piped_into_head_ends_quietly(tmp_path):
    """`--check | head` closes the pipe before the report is written: no BrokenPipe traceback."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), **TOKEN}
    process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--check"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader is gone before the first write
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert stderr == ""
    shell = subprocess.run(["bash", "-c", f"set -o pipefail; {sys.executable} {ROOT / 'main.py'} --check | head -n 2"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert shell.stdout.splitlines() == ["Settings are valid.", ""] and shell.stderr == ""


@pytest.mark.parametrize(("url", "reason"), [
    ("http://127.0.0.1:9/api/v10", "127.0.0.1:9: connection refused"),
    ("http://discord.invalid/api/v10", "discord.invalid:80: DNS lookup failed"),
])
def test_unreachable_discord_is_one_line(tmp_path, url, reason):
    """No network yet, as at boot under systemd: one error line, exit 1, so the supervisor retries."""
    result = run_main(tmp_path, {**TOKEN, "DATABASE_PATH": str(tmp_path / "bot.db"), "DISCORD_API_BASE_URL": url})
    assert result.returncode == 1, result.stderr
    errors = error_lines(result.stderr)
    assert len(errors) == 1, result.stderr
    assert f"Cannot reach Discord at {reason}" in errors[0]
    assert "Check the network" in errors[0]
