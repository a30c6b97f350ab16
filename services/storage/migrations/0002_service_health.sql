-- Current state of every external service, written by probes, real traffic and circuit breakers.
CREATE TABLE IF NOT EXISTS service_health (
    service              TEXT PRIMARY KEY,
    status               TEXT NOT NULL CHECK (status IN ('healthy', 'degraded', 'down', 'disabled', 'unknown')),
    latency_ms           REAL,
    last_error           TEXT,
    checked_at           REAL NOT NULL,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    circuit_state        TEXT NOT NULL DEFAULT 'closed' CHECK (circuit_state IN ('closed', 'open', 'half_open')),
    circuit_opened_at    REAL,
    detail               TEXT
);
