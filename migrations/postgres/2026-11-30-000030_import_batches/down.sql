DROP INDEX import_runs_by_content;
ALTER TABLE import_runs DROP COLUMN batches;
ALTER TABLE import_runs DROP COLUMN content_hash;
ALTER TABLE import_runs DROP COLUMN source;
-- The older release knows no interrupted run: it is shown as failed.
UPDATE import_runs SET state = 'failed' WHERE state = 'interrupted';
ALTER TABLE import_runs DROP CONSTRAINT import_runs_state_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_state_check
    CHECK (state IN ('running', 'imported', 'rejected', 'failed'));
