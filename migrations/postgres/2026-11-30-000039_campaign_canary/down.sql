ALTER TABLE fota_campaigns DROP COLUMN canary;
