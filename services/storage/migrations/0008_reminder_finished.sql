-- When a reminder stopped being pending, so finished ones can be pruned after REMINDER_HISTORY_DAYS.
ALTER TABLE reminders ADD COLUMN finished_at REAL;
-- Rows finished before this column existed: the last delivery, else when they were set.
UPDATE reminders SET finished_at = COALESCE(delivered_at, created_at) WHERE state != 'pending';
-- The prune reads only finished rows, oldest first.
CREATE INDEX IF NOT EXISTS reminders_finished ON reminders (finished_at) WHERE state != 'pending';
