-- Every probe result, kept HEALTH_HISTORY_DAYS, for trends and post-mortems.
CREATE TABLE IF NOT EXISTS health_history (
    id         INTEGER PRIMARY KEY,
    service    TEXT NOT NULL,
    status     TEXT NOT NULL,
    latency_ms REAL,
    error      TEXT,
    checked_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS health_history_service ON health_history (service, checked_at);
CREATE INDEX IF NOT EXISTS health_history_checked ON health_history (checked_at);
