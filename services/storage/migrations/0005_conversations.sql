-- Conversation memory per channel, thread, DM or voice channel ("scope").
CREATE TABLE IF NOT EXISTS conversation_turns (
    id          INTEGER PRIMARY KEY,
    scope_id    INTEGER NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    author_id   INTEGER,
    author_name TEXT,
    content     TEXT NOT NULL,
    created_at  REAL NOT NULL,
    status      TEXT NOT NULL DEFAULT 'complete' CHECK (status IN ('complete', 'interrupted', 'failed'))
);
CREATE INDEX IF NOT EXISTS conversation_turns_scope ON conversation_turns (scope_id, id);
CREATE INDEX IF NOT EXISTS conversation_turns_created ON conversation_turns (created_at);
