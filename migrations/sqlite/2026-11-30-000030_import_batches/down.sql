-- Back to the table as the foundation and migration 27 built it (the same
-- statements, so the schema reads as it did), the interrupted runs failed.
ALTER TABLE import_runs RENAME TO import_runs_batched;
CREATE TABLE import_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    filename TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'imported', 'rejected', 'failed')),
    total_lines BIGINT NOT NULL DEFAULT 0,
    processed_lines BIGINT NOT NULL DEFAULT 0,
    imported_lines BIGINT NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
ALTER TABLE import_runs ADD COLUMN holder TEXT NOT NULL DEFAULT '';
ALTER TABLE import_runs ADD COLUMN heartbeat_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE import_runs ADD COLUMN unlisted_errors BIGINT NOT NULL DEFAULT 0;
-- The older release knows no interrupted run: it is shown as failed.
INSERT INTO import_runs (id, filename, state, total_lines, processed_lines, imported_lines,
    errors, created_by, created_at, finished_at, holder, heartbeat_at, unlisted_errors)
SELECT id, filename, CASE WHEN state = 'interrupted' THEN 'failed' ELSE state END,
    total_lines, processed_lines, imported_lines,
    errors, created_by, created_at, finished_at, holder, heartbeat_at, unlisted_errors
FROM import_runs_batched;
DROP TABLE import_runs_batched;
