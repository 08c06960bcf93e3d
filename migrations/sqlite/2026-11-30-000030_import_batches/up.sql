-- Imports write in batches, each its own transaction, so a run cut off
-- part-way may have written some of its lines: it is "interrupted", not
-- failed, and importing the same file again (known by its SHA-256) writes
-- the rest. Where it was started (portal or command line) is shown with
-- who started it. SQLite cannot change a CHECK constraint in place: the
-- table is rebuilt (nothing refers to it).
CREATE TABLE import_runs_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    filename TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'imported', 'rejected', 'failed', 'interrupted')),
    total_lines BIGINT NOT NULL DEFAULT 0,
    processed_lines BIGINT NOT NULL DEFAULT 0,
    imported_lines BIGINT NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT,
    holder TEXT NOT NULL DEFAULT '',
    heartbeat_at BIGINT NOT NULL DEFAULT 0,
    unlisted_errors BIGINT NOT NULL DEFAULT 0,
    source TEXT NOT NULL DEFAULT 'portal',
    content_hash TEXT NOT NULL DEFAULT '',
    batches BIGINT NOT NULL DEFAULT 0
);
INSERT INTO import_runs_new (id, filename, state, total_lines, processed_lines, imported_lines,
    errors, created_by, created_at, finished_at, holder, heartbeat_at, unlisted_errors)
SELECT id, filename, state, total_lines, processed_lines, imported_lines,
    errors, created_by, created_at, finished_at, holder, heartbeat_at, unlisted_errors
FROM import_runs;
DROP TABLE import_runs;
ALTER TABLE import_runs_new RENAME TO import_runs;
CREATE INDEX import_runs_by_content ON import_runs (content_hash, state);
