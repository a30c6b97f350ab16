"""scripts/playground.sh is the one command: it sets up, starts everything, answers, and leaves on `quit`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from devtools.fakes.llm_server import refused_url

ROOT = Path(__file__).resolve().parents[2]


def test_one_command_from_setup_to_an_answer():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root")}
    result = subprocess.run(["bash", "scripts/playground.sh", "--ollama-host", refused_url()], cwd=ROOT, env=env,
                            input="/wiki Python\nquit\n", capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the built-in echo model" in result.stdout
    assert "┃ **Python (programming language)**" in result.stdout
    assert result.stdout.rstrip().endswith("Bye.")
    assert "Traceback" not in result.stdout + result.stderr
