-- Imports write in batches, each its own transaction, so a run cut off
-- part-way may have written some of its lines: it is "interrupted", not
-- failed, and importing the same file again (known by its SHA-256) writes
-- the rest. Where it was started (portal or command line) is shown with
-- who started it.
ALTER TABLE import_runs DROP CONSTRAINT import_runs_state_check;
ALTER TABLE import_runs ADD CONSTRAINT import_runs_state_check
    CHECK (state IN ('running', 'imported', 'rejected', 'failed', 'interrupted'));
ALTER TABLE import_runs ADD COLUMN source TEXT NOT NULL DEFAULT 'portal';
ALTER TABLE import_runs ADD COLUMN content_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE import_runs ADD COLUMN batches BIGINT NOT NULL DEFAULT 0;
CREATE INDEX import_runs_by_content ON import_runs (content_hash, state);
