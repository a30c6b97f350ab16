"""Regenerate docs/playground.png: what the bot looks like, from a real playground session.

    .venv/bin/python scripts/screenshot.py [--out docs/playground.png]

Runs the playground (the local Discord, the real bot, the echo model), types a chat line and /health,
and draws the terminal transcript with Pillow; the streamed answer is shown as it grew, then final.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devtools.discord_emulator.render import message_lines
from devtools.fakes.llm_server import refused_url
from devtools.playground import Playground

CHAT = "tell me about the moon"
FONT_FILES = ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
              "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf")
# A monospace font has no colour emoji: the status dots become plain symbols, coloured when drawn.
SYMBOLS = {"🟢": "●", "🟡": "●", "🔴": "●", "⚪": "○", "⏰": "◷"}
COLOURS = {"●green": (87, 242, 135), "●yellow": (254, 231, 92), "●red": (237, 66, 69)}
BACKGROUND, TEXT, DIM, PROMPT, NAME, BAR = (30, 31, 34), (219, 222, 225), (128, 132, 142), (88, 101, 242), \
    (87, 242, 135), (78, 80, 88)


async def transcript() -> list[tuple[str, str]]:
    """(kind, text) lines: prompt, bot, streaming."""
    lines: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        out = io.StringIO()
        async with Playground(Path(folder), out, tty=False, ollama_host=refused_url(), settle=1.0) as playground:
            assert playground.console is not None and playground.renderer is not None
            for typed in (CHAT, "/health"):
                lines.append(("prompt", f"{playground.console.prompt()}{typed}"))
                start = len(out.getvalue())
                await playground.console.handle(typed)
                await playground.renderer.drain(quiet=1.5, timeout=30)
                if typed == CHAT:
                    streamed = next(m for m in playground.emu.records.messages.values()
                                    if m.author_id == playground.emu.bot_user.id)
                    for version in streamed.contents[:-1]:
                        lines.append(("streaming", f"#general {playground.emu.bot_user.username}: {version} ▌"))
                    lines += [("bot", line) for line in message_lines(playground.emu, streamed)]
                else:
                    lines += [("bot", line) for line in out.getvalue()[start:].splitlines()]
    return lines


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_FILES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size=size)


def draw(lines: list[tuple[str, str]], path: Path, width_chars: int = 125) -> None:
    face = font(15)
    left, top, row = 18, 44, 21
    char_width = face.getlength("M")
    image = Image.new("RGB", (int(left * 2 + char_width * width_chars), top + row * len(lines) + 20), BACKGROUND)
    pen = ImageDraw.Draw(image)
    for i, colour in enumerate(((237, 66, 69), (254, 231, 92), (87, 242, 135))):
        pen.ellipse((16 + i * 20, 14, 28 + i * 20, 26), fill=colour)
    pen.text((90, 12), "scripts/playground.sh — the real bot on the local Discord", font=face, fill=DIM)
    for index, (kind, text) in enumerate(lines):
        y = top + index * row
        for emoji, symbol in SYMBOLS.items():
            text = text.replace(emoji, symbol)
        text = text[:width_chars]
        if kind == "prompt":
            prompt, _, typed = text.partition("> ")
            pen.text((left, y), prompt + "> ", font=face, fill=PROMPT)
            pen.text((left + face.getlength(prompt + "> "), y), typed, font=face, fill=TEXT)
            continue
        if kind == "streaming":
            pen.text((left, y), text, font=face, fill=DIM)
            continue
        x = left
        if text.startswith("  ┃ "):
            pen.text((x, y), "  ┃ ", font=face, fill=BAR)
            x, text = x + face.getlength("  ┃ "), text[4:]
        elif ":" in text and text.startswith(("#", "dm ")):
            header, _, rest = text.partition(":")
            pen.text((x, y), header + ":", font=face, fill=NAME)
            x, text = x + face.getlength(header + ":"), rest
        colour = TEXT
        if text.startswith("●"):
            status = text.split("**")[2].split()[0] if text.count("**") >= 2 else ""
            colour = {"healthy": COLOURS["●green"], "degraded": COLOURS["●yellow"]}.get(status, COLOURS["●red"])
            pen.text((x, y), "●", font=face, fill=colour)
            x, text = x + face.getlength("●"), text[1:]
        pen.text((x, y), text, font=face, fill=TEXT)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "playground.png")
    args = parser.parse_args()
    lines = asyncio.run(transcript())
    draw(lines, args.out)
    print(f"wrote {args.out} ({len(lines)} lines)")


if __name__ == "__main__":
    main()
