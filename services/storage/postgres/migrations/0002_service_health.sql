-- Current state of every external service, written by probes, real traffic and circuit breakers.
CREATE TABLE service_health (
    service              text PRIMARY KEY,
    status               text NOT NULL CHECK (status IN ('healthy', 'degraded', 'down', 'disabled', 'unknown')),
    latency_ms           double precision,
    last_error           text,
    checked_at           double precision NOT NULL,
    consecutive_failures integer NOT NULL DEFAULT 0,
    circuit_state        text NOT NULL DEFAULT 'closed' CHECK (circuit_state IN ('closed', 'open', 'half_open')),
    circuit_opened_at    double precision,
    detail               text
);
