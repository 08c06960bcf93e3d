DROP TABLE fota_events;
DROP TABLE fota_sessions;
DROP TABLE dm_sessions;
DROP TABLE dm_accounts;
