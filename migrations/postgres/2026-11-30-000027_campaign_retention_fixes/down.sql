ALTER TABLE purge_runs DROP COLUMN holder;
ALTER TABLE import_runs DROP COLUMN unlisted_errors;
ALTER TABLE import_runs DROP COLUMN heartbeat_at;
ALTER TABLE import_runs DROP COLUMN holder;
