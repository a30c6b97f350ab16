"""Which conversation memory a voice call uses (/voice memory, a per-server choice).

"shared": the voice channel's own text chat (Discord gives every voice channel one, with the same
id), so /chat typed there and the call continue one conversation, through the same ContextBuilder.
"separate": a memory of the call's own, which no text channel reads.
"""

from __future__ import annotations

# Conversation scopes are Discord ids (positive); a call's own memory takes the negated channel id,
# which no channel, thread or DM can have.


def voice_memory_scope(voice_channel_id: int, memory: str) -> int:
    return voice_channel_id if memory == "shared" else -voice_channel_id
