"""How the terminal shows the bot's messages: embeds with their fields, readable mentions and times, and a
streamed answer rewritten in place on a tty but printed once, final, elsewhere. The bot's side is played
by the emulator's own message store (as the bot's REST calls would fill it)."""

from __future__ import annotations

import asyncio
import io

from devtools.discord_emulator import DiscordEmulator
from devtools.discord_emulator.render import CLEAR_LINE, UP_AND_CLEAR, LiveRenderer, message_lines, plain


async def bot_says(emu: DiscordEmulator, body: dict) -> object:
    return await emu.messenger.create(emu.channel("general"), emu.bot_user, body)


async def test_embed_fields_and_footer_are_shown(emulator: DiscordEmulator) -> None:
    message = await bot_says(emulator, {"content": "", "embeds": [{
        "title": "Bot health", "url": "https://example.org/h", "description": "All \\_good\\_",
        "fields": [{"name": "Cache", "value": "3 entries"}, {"name": "Usage", "value": "ollama 1\nopenai 2"}],
        "footer": {"text": "Probed every 60 s"}, "thumbnail": {"url": "https://example.org/t.png"}}],
        "components": [{"type": 1, "components": [{"type": 2, "style": 1, "label": "Next", "custom_id": "n"}]}]})
    assert message_lines(emulator, message) == [
        "#general EmuBot:",
        "  ┃ **Bot health**  <https://example.org/h>",
        "  ┃ All _good_",
        "  ┃ Cache: 3 entries",
        "  ┃ Usage:",
        "  ┃   ollama 1",
        "  ┃   openai 2",
        "  ┃ — Probed every 60 s",
        "  ┃ [thumbnail: https://example.org/t.png]",
        "  [Next]",
    ]


async def test_mentions_and_timestamps_read_as_people_see_them(emulator: DiscordEmulator) -> None:
    alice, general = emulator.member("alice"), emulator.channel("general")
    text = plain(emulator, f"{alice.user.mention} see <#{general.id}> at <t:1800000000:F> (<t:1800000600:R>)",
                 now=1800000000)
    assert text == "@alice see #general at Fri 2027-01-15 08:00 UTC (in 10 minutes)"


async def test_a_streamed_answer_is_rewritten_in_place_on_a_terminal(emulator: DiscordEmulator) -> None:
    out = io.StringIO()
    renderer = LiveRenderer(emulator, out, tty=True, width=80)
    message = await bot_says(emulator, {"content": "Once"})
    renderer.refresh()
    for text in ("Once upon", "Once upon a time"):
        await emulator.messenger.edit(message, {"content": text})
        renderer.refresh()
    up = UP_AND_CLEAR.format(rows=1)
    assert out.getvalue() == f"#general EmuBot: Once\n{up}#general EmuBot: Once upon\n{up}#general EmuBot: Once upon a time\n"
    # Once something else was printed below it, an edit is shown anew and marked as an edit.
    renderer.something_else_printed()
    await emulator.messenger.edit(message, {"content": "Once upon a time, the end."})
    renderer.refresh()
    assert out.getvalue().endswith("\n#general EmuBot (edited): Once upon a time, the end.\n")


async def test_the_prompt_stays_below_the_answers(emulator: DiscordEmulator) -> None:
    out = io.StringIO()
    renderer = LiveRenderer(emulator, out, tty=True, width=80)
    renderer.prompt = lambda: "alice in #general> "
    message = await bot_says(emulator, {"content": "Hi"})
    renderer.refresh()
    await emulator.messenger.edit(message, {"content": "Hi there"})
    renderer.refresh()
    assert out.getvalue() == (f"{CLEAR_LINE}#general EmuBot: Hi\nalice in #general> "
                              f"{CLEAR_LINE}{UP_AND_CLEAR.format(rows=1)}#general EmuBot: Hi there\nalice in #general> ")


async def test_long_lines_are_wrapped_so_the_redraw_counts_screen_rows(emulator: DiscordEmulator) -> None:
    out = io.StringIO()
    renderer = LiveRenderer(emulator, out, tty=True, width=30)
    message = await bot_says(emulator, {"content": "word " * 20})
    renderer.refresh()
    rows = out.getvalue().count("\n")
    assert rows > 1 and all(len(line) <= 29 for line in out.getvalue().splitlines())
    await emulator.messenger.edit(message, {"content": "short"})
    renderer.refresh()
    assert UP_AND_CLEAR.format(rows=rows) in out.getvalue()


async def test_elsewhere_only_the_settled_text_is_printed(emulator: DiscordEmulator) -> None:
    out = io.StringIO()
    renderer = LiveRenderer(emulator, out, tty=False, settle=0.3)
    printer = asyncio.create_task(renderer.run())
    try:
        message = await bot_says(emulator, {"content": "Once"})
        for text in ("Once upon", "Once upon a time"):
            await asyncio.sleep(0.1)
            await emulator.messenger.edit(message, {"content": text})
        await renderer.drain(quiet=0.5, timeout=5)
    finally:
        printer.cancel()
    assert out.getvalue() == "#general EmuBot: Once upon a time\n"
    assert "\x1b" not in out.getvalue()
