DROP INDEX dm_sessions_job;
ALTER TABLE dm_sessions DROP COLUMN job_id;
