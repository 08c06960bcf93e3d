-- Unanswered devices become failed, as they counted before.
CREATE TABLE fota_campaign_devices_copy AS SELECT * FROM fota_campaign_devices;
DROP INDEX fota_campaign_devices_device;
DROP INDEX fota_campaign_devices_state;
DROP INDEX fota_campaign_devices_wave;
DROP TABLE fota_campaign_devices;
CREATE TABLE fota_campaign_devices (
    campaign_id BIGINT NOT NULL REFERENCES fota_campaigns (id) ON DELETE CASCADE,
    device_id BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    wave INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'notified', 'succeeded', 'failed', 'declined', 'skipped', 'cancelled')),
    fota_session_id BIGINT REFERENCES fota_sessions (id) ON DELETE SET NULL,
    detail TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, device_id)
);
INSERT INTO fota_campaign_devices (campaign_id, device_id, wave, state, fota_session_id, detail, updated_at)
    SELECT campaign_id, device_id, wave, CASE state WHEN 'unanswered' THEN 'failed' ELSE state END, fota_session_id, detail, updated_at
    FROM fota_campaign_devices_copy;
DROP TABLE fota_campaign_devices_copy;
CREATE INDEX fota_campaign_devices_wave ON fota_campaign_devices (campaign_id, wave, state);
CREATE INDEX fota_campaign_devices_state ON fota_campaign_devices (campaign_id, state);
CREATE INDEX fota_campaign_devices_device ON fota_campaign_devices (device_id);

ALTER TABLE fota_campaigns DROP COLUMN not_before;
ALTER TABLE fota_campaigns DROP COLUMN window_to;
ALTER TABLE fota_campaigns DROP COLUMN window_from;
ALTER TABLE fota_campaigns DROP COLUMN answer_within_mins;
