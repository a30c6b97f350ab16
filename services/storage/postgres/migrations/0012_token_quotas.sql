-- Model tokens used per member, per server (guild) and UTC day, for the daily quotas; shared by every
-- process (see SQLite's 0012). guild_id 0 holds what was used in DMs.
CREATE TABLE token_quota_usage (
    day        text    NOT NULL,   -- YYYY-MM-DD, UTC
    guild_id   bigint  NOT NULL,
    member_id  bigint  NOT NULL,
    tokens     bigint  NOT NULL DEFAULT 0,
    requests   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (day, guild_id, member_id)
);
CREATE INDEX token_quota_usage_member ON token_quota_usage (day, member_id);
