"""Discord-side helpers shared by the bot and its cogs: replies and pagers, error wording, streamed
answers, pruning loops, /health rendering, and which Discord to talk to. Below both `bot.py` and
`cogs/`: it imports neither."""
