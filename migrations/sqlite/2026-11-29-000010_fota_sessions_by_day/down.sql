DROP INDEX fota_sessions_created;
