ALTER TABLE fota_campaigns DROP COLUMN requeue_round;
