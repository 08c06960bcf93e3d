-- The server-initiated job a DM session is running, while it runs: the
-- sweeper finds the jobs whose session went quiet (a handset that dropped
-- it) and closes them, instead of leaving them running for good with the
-- FOTA session they hold.
ALTER TABLE dm_sessions ADD COLUMN job_id BIGINT;
CREATE INDEX dm_sessions_job ON dm_sessions (job_id);
