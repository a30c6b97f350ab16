-- Voice memory has its own key: `kind` tells a voice channel's spoken conversation ('voice') from the
-- text chat of the same channel id ('chat'), which /chat there reads. Rows from before are text chat.
ALTER TABLE conversation_turns ADD COLUMN kind TEXT NOT NULL DEFAULT 'chat' CHECK (kind IN ('chat', 'voice'));
-- A prompt and its answer share an exchange id (the prompt turn's id): erasing one erases both.
-- NULL for rows from before, which only /forget-me (by author) and the retention prune remove.
ALTER TABLE conversation_turns ADD COLUMN exchange_id INTEGER;
DROP INDEX IF EXISTS conversation_turns_scope;
CREATE INDEX IF NOT EXISTS conversation_turns_scope ON conversation_turns (scope_id, kind, id);
CREATE INDEX IF NOT EXISTS conversation_turns_exchange ON conversation_turns (exchange_id);
CREATE INDEX IF NOT EXISTS conversation_turns_author ON conversation_turns (author_id);

-- The Discord messages each exchange came from or was shown in: the member's message, the bot's
-- answer messages, a voice transcript. Deleting any of them in Discord erases the exchange.
CREATE TABLE IF NOT EXISTS conversation_messages (
    message_id    INTEGER PRIMARY KEY,
    channel_id    INTEGER NOT NULL,
    exchange_id   INTEGER NOT NULL,
    transcript_of INTEGER,           -- the speaker, when the message is the bot's transcript of their speech
    created_at    REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS conversation_messages_exchange ON conversation_messages (exchange_id);
CREATE INDEX IF NOT EXISTS conversation_messages_transcript ON conversation_messages (transcript_of)
    WHERE transcript_of IS NOT NULL;
CREATE INDEX IF NOT EXISTS conversation_messages_created ON conversation_messages (created_at);
