-- Back to the table as the foundation and migrations 7, 27 and 33 built it
-- (the same statements, so the schema reads as it did). The older release
-- knows no abandoned run: it is shown as failed, saying who abandoned it.
ALTER TABLE purge_runs RENAME TO purge_runs_abandon;
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
ALTER TABLE purge_runs ADD COLUMN last_device_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE purge_runs ADD COLUMN holder TEXT NOT NULL DEFAULT '';
INSERT INTO purge_runs (id, state, cutoff, archive_dir, segment, committed_bytes,
    last_profile_id, eligible, profiles, devices, started_by, started_at, heartbeat_at,
    finished_at, error, last_device_id, holder)
SELECT id, CASE WHEN state = 'abandoned' THEN 'failed' ELSE state END,
    cutoff, archive_dir, segment, committed_bytes,
    last_profile_id, eligible, profiles, devices, started_by, started_at, heartbeat_at,
    finished_at,
    CASE WHEN state = 'abandoned'
         THEN 'abandoned by ' || abandoned_by || ': ' || abandon_reason
         ELSE error END,
    last_device_id, holder
FROM purge_runs_abandon;
DROP TABLE purge_runs_abandon;
CREATE INDEX purge_runs_state ON purge_runs (state, id);
CREATE UNIQUE INDEX purge_runs_one_running ON purge_runs (state) WHERE state = 'running';
