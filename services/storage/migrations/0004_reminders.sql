-- Reminders (issue 7). Times are UTC epoch seconds; wall-clock maths uses the row's tz.
CREATE TABLE IF NOT EXISTS reminders (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id      INTEGER NOT NULL,
    guild_id      INTEGER,                       -- NULL when set in a DM
    channel_id    INTEGER,
    dm            INTEGER NOT NULL DEFAULT 0 CHECK (dm IN (0, 1)),
    text          TEXT NOT NULL,
    due_at        REAL NOT NULL,                 -- when the scheduler acts next (occurrence or retry)
    occurrence_at REAL NOT NULL,                 -- the time asked for; lateness is measured from it
    recurrence    TEXT,                          -- JSON rule (services/reminders/recurrence.py); NULL = once
    tz            TEXT NOT NULL,                 -- IANA zone the rule is computed in
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts      INTEGER NOT NULL DEFAULT 0,    -- failed attempts at the current occurrence
    last_error    TEXT,
    created_at    REAL NOT NULL,
    delivered_at  REAL,                          -- last successful delivery
    deliveries    INTEGER NOT NULL DEFAULT 0
);
-- The scheduler reads only the next due row through this index.
CREATE INDEX IF NOT EXISTS reminders_state_due ON reminders (state, due_at);
-- /reminders, the per-user limit and cancel look up by owner.
CREATE INDEX IF NOT EXISTS reminders_owner_state ON reminders (owner_id, state, due_at);

-- Per-user preferences; today only the time zone set with /timezone.
CREATE TABLE IF NOT EXISTS user_settings (
    user_id    INTEGER PRIMARY KEY,
    tz         TEXT NOT NULL,
    updated_at REAL NOT NULL
);
