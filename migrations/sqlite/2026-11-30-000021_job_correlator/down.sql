DROP INDEX dm_jobs_correlator;
ALTER TABLE dm_jobs DROP COLUMN correlator;
