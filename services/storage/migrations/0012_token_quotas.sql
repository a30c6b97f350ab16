-- Model tokens used per member, per server (guild) and UTC day, for the daily quotas
-- (MEMBER_DAILY_TOKENS across every server and DMs, SERVER_DAILY_TOKENS per server).
-- Prompt and answer tokens both count. guild_id 0 holds what was used in DMs.
CREATE TABLE IF NOT EXISTS token_quota_usage (
    day        TEXT    NOT NULL,   -- YYYY-MM-DD, UTC
    guild_id   BIGINT  NOT NULL,
    member_id  BIGINT  NOT NULL,
    tokens     BIGINT  NOT NULL DEFAULT 0,
    requests   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, guild_id, member_id)
);
CREATE INDEX IF NOT EXISTS token_quota_usage_member ON token_quota_usage (day, member_id);
