-- Per-channel and per-server chat settings chosen with /persona and /model (issue 18).
-- A missing row or a NULL column means "not set here": the channel falls back to its server, then
-- to the bot's defaults (CHAT_SYSTEM_PROMPT, LLM_PROVIDER and LLM_FALLBACK_MODELS).
CREATE TABLE IF NOT EXISTS chat_profiles (
    scope       TEXT    NOT NULL CHECK (scope IN ('channel', 'guild')),
    scope_id    INTEGER NOT NULL,
    guild_id    INTEGER NOT NULL,
    persona     TEXT,
    model_chain TEXT,
    updated_by  INTEGER,
    updated_at  REAL    NOT NULL,
    PRIMARY KEY (scope, scope_id)
);
CREATE INDEX IF NOT EXISTS chat_profiles_guild ON chat_profiles (guild_id);
