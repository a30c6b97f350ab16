-- Per-guild voice settings set with /voice; a missing row or NULL column means "use the bot's default".
CREATE TABLE IF NOT EXISTS voice_settings (
    guild_id        INTEGER PRIMARY KEY,
    voice           TEXT,
    speed           REAL,
    rvc             INTEGER,
    listen          INTEGER,
    text_channel_id INTEGER,
    updated_at      REAL NOT NULL
);
