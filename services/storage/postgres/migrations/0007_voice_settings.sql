-- Per-guild voice settings set with /voice; a missing row or NULL column means "use the bot's default".
CREATE TABLE voice_settings (
    guild_id        bigint PRIMARY KEY,
    voice           text,
    speed           double precision,
    rvc             boolean,
    listen          boolean,
    text_channel_id bigint,
    updated_at      double precision NOT NULL
);
