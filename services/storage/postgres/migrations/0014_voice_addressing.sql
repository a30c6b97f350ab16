-- /voice address, wake word and memory (issue 19); NULL means "use the bot's default", as for the other columns.
ALTER TABLE voice_settings ADD COLUMN address TEXT;
ALTER TABLE voice_settings ADD COLUMN wake_word TEXT;
ALTER TABLE voice_settings ADD COLUMN memory TEXT;
