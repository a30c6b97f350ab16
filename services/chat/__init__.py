"""Chat without Discord: memory (memory.py), the model's context (context.py), per-channel ordering
(ordering.py), the per-user cooldown (cooldown.py), /ask's sources and citations (ask.py), and
splitting answers into Discord-sized messages (splitter.py)."""
