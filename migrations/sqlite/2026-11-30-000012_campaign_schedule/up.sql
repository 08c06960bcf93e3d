-- When a campaign may notify, and how long a handset has to answer.
-- answer_within_mins: a notified handset that has not called back by then
-- counts as unanswered (switched off, out of coverage), which is not a
-- failure of the package. window_from/window_to: minutes of the UTC day
-- between which notifications go out (wrapping past midnight when from >
-- to); both NULL for any time. not_before: no notification before then.
ALTER TABLE fota_campaigns ADD COLUMN answer_within_mins INTEGER NOT NULL DEFAULT 1440
    CHECK (answer_within_mins BETWEEN 5 AND 1440);
ALTER TABLE fota_campaigns ADD COLUMN window_from INTEGER
    CHECK (window_from BETWEEN 0 AND 1439);
ALTER TABLE fota_campaigns ADD COLUMN window_to INTEGER
    CHECK (window_to BETWEEN 0 AND 1439);
ALTER TABLE fota_campaigns ADD COLUMN not_before BIGINT;

-- A new device outcome, 'unanswered'. SQLite cannot change a CHECK in
-- place: the table is rebuilt under its own name (nothing references it;
-- created anew rather than renamed, so its stored definition stays plain).
CREATE TABLE fota_campaign_devices_copy AS SELECT * FROM fota_campaign_devices;
DROP INDEX fota_campaign_devices_device;
DROP INDEX fota_campaign_devices_state;
DROP INDEX fota_campaign_devices_wave;
DROP TABLE fota_campaign_devices;
CREATE TABLE fota_campaign_devices (
    campaign_id BIGINT NOT NULL REFERENCES fota_campaigns (id) ON DELETE CASCADE,
    device_id BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    wave INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'notified', 'succeeded', 'failed', 'declined', 'unanswered', 'skipped', 'cancelled')),
    fota_session_id BIGINT REFERENCES fota_sessions (id) ON DELETE SET NULL,
    detail TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (campaign_id, device_id)
);
INSERT INTO fota_campaign_devices (campaign_id, device_id, wave, state, fota_session_id, detail, updated_at)
    SELECT campaign_id, device_id, wave, state, fota_session_id, detail, updated_at
    FROM fota_campaign_devices_copy;
DROP TABLE fota_campaign_devices_copy;
CREATE INDEX fota_campaign_devices_wave ON fota_campaign_devices (campaign_id, wave, state);
CREATE INDEX fota_campaign_devices_state ON fota_campaign_devices (campaign_id, state);
CREATE INDEX fota_campaign_devices_device ON fota_campaign_devices (device_id);
