"""scripts/screenshot.py draws a transcript as a terminal picture (docs/playground.png comes from it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def load_script():
    spec = importlib.util.spec_from_file_location("screenshot", ROOT / "scripts" / "screenshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_draws_one_row_per_line_with_coloured_status_dots(tmp_path):
    script = load_script()
    lines = [("prompt", "alice in #general> /health"), ("bot", "#general EmuBot (only you can see this):"),
             ("bot", "  ┃ 🟢 **database** healthy · 3 ms"), ("streaming", "#general EmuBot: (echo ▌")]
    path = tmp_path / "shot.png"
    script.draw(lines, path, width_chars=60)
    with Image.open(path) as image:
        assert image.height == 44 + 21 * len(lines) + 20
        colours = {colour for _, colour in image.convert("RGB").getcolors(maxcolors=1 << 16)}
    assert script.COLOURS["●green"] in colours and script.PROMPT in colours


def test_the_committed_picture_exists():
    with Image.open(ROOT / "docs" / "playground.png") as image:
        assert image.width > 800 and image.height > 300
