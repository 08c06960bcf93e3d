-- When a campaign may notify, and how long a handset has to answer.
-- answer_within_mins: a notified handset that has not called back by then
-- counts as unanswered (switched off, out of coverage), which is not a
-- failure of the package. window_from/window_to: minutes of the UTC day
-- between which notifications go out (wrapping past midnight when from >
-- to); both NULL for any time. not_before: no notification before then.
ALTER TABLE fota_campaigns
    ADD COLUMN answer_within_mins INTEGER NOT NULL DEFAULT 1440
        CHECK (answer_within_mins BETWEEN 5 AND 1440),
    ADD COLUMN window_from INTEGER CHECK (window_from BETWEEN 0 AND 1439),
    ADD COLUMN window_to INTEGER CHECK (window_to BETWEEN 0 AND 1439),
    ADD COLUMN not_before BIGINT;

ALTER TABLE fota_campaign_devices DROP CONSTRAINT fota_campaign_devices_state_check;
ALTER TABLE fota_campaign_devices ADD CONSTRAINT fota_campaign_devices_state_check
    CHECK (state IN ('queued', 'notified', 'succeeded', 'failed', 'declined', 'unanswered', 'skipped', 'cancelled'));
