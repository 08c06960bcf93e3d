-- Unanswered devices become failed, as they counted before.
ALTER TABLE fota_campaign_devices DROP CONSTRAINT fota_campaign_devices_state_check;
UPDATE fota_campaign_devices SET state = 'failed' WHERE state = 'unanswered';
ALTER TABLE fota_campaign_devices ADD CONSTRAINT fota_campaign_devices_state_check
    CHECK (state IN ('queued', 'notified', 'succeeded', 'failed', 'declined', 'skipped', 'cancelled'));

ALTER TABLE fota_campaigns
    DROP COLUMN not_before,
    DROP COLUMN window_to,
    DROP COLUMN window_from,
    DROP COLUMN answer_within_mins;
