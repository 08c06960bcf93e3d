DROP INDEX fota_sessions_download_at;
ALTER TABLE fota_sessions DROP COLUMN download_bytes;
ALTER TABLE fota_sessions DROP COLUMN download_at;
