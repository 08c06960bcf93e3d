-- The older release knows no abandoned run: it is shown as failed, saying
-- who abandoned it.
UPDATE purge_runs
SET state = 'failed', error = 'abandoned by ' || abandoned_by || ': ' || abandon_reason
WHERE state = 'abandoned';
ALTER TABLE purge_runs DROP COLUMN abandon_reason;
ALTER TABLE purge_runs DROP COLUMN abandoned_at;
ALTER TABLE purge_runs DROP COLUMN abandoned_by;
ALTER TABLE purge_runs DROP CONSTRAINT purge_runs_state_check;
ALTER TABLE purge_runs ADD CONSTRAINT purge_runs_state_check
    CHECK (state IN ('running', 'completed', 'failed'));
