ALTER TABLE dm_jobs DROP COLUMN results;
