ALTER TABLE fota_campaigns DROP COLUMN account_id;
ALTER TABLE fota_campaigns DROP COLUMN mdn_prefix;
