-- A purge run whose archive is lost for good (a segment missing or short)
-- can be abandoned: it ends "abandoned" with who, when and why, which frees
-- the one-running-purge index for a new run.
ALTER TABLE purge_runs DROP CONSTRAINT purge_runs_state_check;
ALTER TABLE purge_runs ADD CONSTRAINT purge_runs_state_check
    CHECK (state IN ('running', 'completed', 'failed', 'abandoned'));
ALTER TABLE purge_runs ADD COLUMN abandoned_by TEXT NOT NULL DEFAULT '';
ALTER TABLE purge_runs ADD COLUMN abandoned_at BIGINT;
ALTER TABLE purge_runs ADD COLUMN abandon_reason TEXT NOT NULL DEFAULT '';
