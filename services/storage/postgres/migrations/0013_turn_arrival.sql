-- Memory keeps each exchange in the order its prompt arrived (answers in one channel run concurrently);
-- older rows take their creation time. See SQLite's 0013.
ALTER TABLE conversation_turns ADD COLUMN arrived_at double precision NOT NULL DEFAULT 0;
UPDATE conversation_turns SET arrived_at = created_at;
CREATE INDEX conversation_turns_arrival ON conversation_turns (scope_id, kind, arrived_at, id);
