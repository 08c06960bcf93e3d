-- Purge runs (SQLite): each moves deactivated subscribers past the retention
-- period to the offline archive. The row is the run's commit log: what is
-- counted here is in the archive and gone from the live tables.

CREATE TABLE purge_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
    cutoff BIGINT NOT NULL,
    archive_dir TEXT NOT NULL,
    segment INTEGER NOT NULL DEFAULT 1,
    committed_bytes BIGINT NOT NULL DEFAULT 0,
    last_profile_id BIGINT NOT NULL DEFAULT 0,
    eligible BIGINT NOT NULL DEFAULT 0,
    profiles BIGINT NOT NULL DEFAULT 0,
    devices BIGINT NOT NULL DEFAULT 0,
    started_by TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    finished_at BIGINT,
    error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX purge_runs_state ON purge_runs (state, id);
