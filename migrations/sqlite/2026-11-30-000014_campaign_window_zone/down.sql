ALTER TABLE fota_campaigns DROP COLUMN window_zone;
