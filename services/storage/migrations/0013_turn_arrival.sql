-- Answers in one channel now run concurrently and may finish out of order; memory keeps each
-- exchange in the order its prompt arrived. arrived_at is that moment (both turns of an exchange
-- share it); older rows take their creation time. DOUBLE PRECISION: REAL in SQLite, 8 bytes in PostgreSQL too.
ALTER TABLE conversation_turns ADD COLUMN arrived_at DOUBLE PRECISION NOT NULL DEFAULT 0;
UPDATE conversation_turns SET arrived_at = created_at;
CREATE INDEX IF NOT EXISTS conversation_turns_arrival ON conversation_turns (scope_id, kind, arrived_at, id);
