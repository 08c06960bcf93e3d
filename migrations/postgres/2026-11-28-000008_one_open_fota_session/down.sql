DROP INDEX fota_sessions_one_open;
