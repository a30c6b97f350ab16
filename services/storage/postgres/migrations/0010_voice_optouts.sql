-- Members who opted out of being heard in voice (/voice-optout), in every server; /voice-optin deletes the row.
CREATE TABLE voice_optouts (
    user_id    bigint PRIMARY KEY,
    created_at double precision NOT NULL
);
