-- A purge run whose archive is lost for good (a segment missing or short)
-- can be abandoned: it ends "abandoned" with who, when and why, which frees
-- the one-running-purge index for a new run. SQLite cannot change a CHECK
-- constraint in place: the table is rebuilt (nothing refers to it).
CREATE TABLE purge_runs_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL CHECK (state IN ('running', 'completed', 'failed', 'abandoned')),
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
    error TEXT NOT NULL DEFAULT '',
    last_device_id BIGINT NOT NULL DEFAULT 0,
    holder TEXT NOT NULL DEFAULT '',
    abandoned_by TEXT NOT NULL DEFAULT '',
    abandoned_at BIGINT,
    abandon_reason TEXT NOT NULL DEFAULT ''
);
INSERT INTO purge_runs_new (id, state, cutoff, archive_dir, segment, committed_bytes,
    last_profile_id, eligible, profiles, devices, started_by, started_at, heartbeat_at,
    finished_at, error, last_device_id, holder)
SELECT id, state, cutoff, archive_dir, segment, committed_bytes,
    last_profile_id, eligible, profiles, devices, started_by, started_at, heartbeat_at,
    finished_at, error, last_device_id, holder
FROM purge_runs;
DROP TABLE purge_runs;
ALTER TABLE purge_runs_new RENAME TO purge_runs;
CREATE INDEX purge_runs_state ON purge_runs (state, id);
CREATE UNIQUE INDEX purge_runs_one_running ON purge_runs (state) WHERE state = 'running';
