-- Voice memory has its own key (kind 'voice' apart from the text chat 'chat' of the same channel id);
-- a prompt and its answer share an exchange id (the prompt turn's id); see SQLite's 0011.
ALTER TABLE conversation_turns ADD COLUMN kind text NOT NULL DEFAULT 'chat' CHECK (kind IN ('chat', 'voice'));
ALTER TABLE conversation_turns ADD COLUMN exchange_id bigint;
DROP INDEX IF EXISTS conversation_turns_scope;
CREATE INDEX conversation_turns_scope ON conversation_turns (scope_id, kind, id);
CREATE INDEX conversation_turns_exchange ON conversation_turns (exchange_id);
CREATE INDEX conversation_turns_author ON conversation_turns (author_id);

-- The Discord messages each exchange came from or was shown in; deleting one in Discord erases the exchange.
CREATE TABLE conversation_messages (
    message_id    bigint PRIMARY KEY,
    channel_id    bigint NOT NULL,
    exchange_id   bigint NOT NULL,
    transcript_of bigint,           -- the speaker, when the message is the bot's transcript of their speech
    created_at    double precision NOT NULL
);
CREATE INDEX conversation_messages_exchange ON conversation_messages (exchange_id);
CREATE INDEX conversation_messages_transcript ON conversation_messages (transcript_of)
    WHERE transcript_of IS NOT NULL;
CREATE INDEX conversation_messages_created ON conversation_messages (created_at);
