ALTER TABLE purge_runs DROP COLUMN last_device_id;
DROP TABLE esn_changes;
DROP INDEX devices_deactivated;
ALTER TABLE devices DROP COLUMN deactivated_at;
ALTER TABLE devices DROP COLUMN activation_state;
DROP TABLE iota_sessions;
DROP TABLE prls;
