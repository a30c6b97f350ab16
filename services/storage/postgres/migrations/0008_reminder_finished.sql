-- When a reminder stopped being pending, so finished ones can be pruned after REMINDER_HISTORY_DAYS.
ALTER TABLE reminders ADD COLUMN finished_at double precision;
UPDATE reminders SET finished_at = COALESCE(delivered_at, created_at)
    WHERE state NOT IN ('pending', 'delivering');
-- The prune reads only finished rows, oldest first.
CREATE INDEX reminders_finished ON reminders (finished_at) WHERE state NOT IN ('pending', 'delivering');
