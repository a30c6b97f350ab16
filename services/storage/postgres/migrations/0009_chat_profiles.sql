-- Per-channel and per-server chat settings chosen with /persona and /model (see SQLite's 0009).
-- A missing row or a NULL column means "not set here": the channel falls back to its server, then
-- to the bot's defaults.
CREATE TABLE chat_profiles (
    scope       text   NOT NULL CHECK (scope IN ('channel', 'guild')),
    scope_id    bigint NOT NULL,
    guild_id    bigint NOT NULL,
    persona     text,
    model_chain text,
    updated_by  bigint,
    updated_at  double precision NOT NULL,
    PRIMARY KEY (scope, scope_id)
);
CREATE INDEX chat_profiles_guild ON chat_profiles (guild_id);
