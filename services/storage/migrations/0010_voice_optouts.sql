-- Members who opted out of being heard in voice (/voice-optout): their audio is dropped before it is
-- decoded, so it is never transcribed or stored, in any server. /voice-optin deletes the row.
CREATE TABLE IF NOT EXISTS voice_optouts (
    user_id    INTEGER PRIMARY KEY,
    created_at REAL NOT NULL
);
