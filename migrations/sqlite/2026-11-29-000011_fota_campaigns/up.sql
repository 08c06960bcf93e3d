-- A FOTA campaign: a network-initiated update of every device on one update
-- path (make, model, from-version), notified in waves. A wave starts when
-- the one before it has finished; a wave whose failure rate is over the
-- threshold pauses the campaign before the next one.
CREATE TABLE fota_campaigns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    make TEXT NOT NULL,
    model TEXT NOT NULL,
    from_version TEXT NOT NULL,
    package_id BIGINT NOT NULL REFERENCES firmware_packages (id),
    to_version TEXT NOT NULL,
    -- The first wave may be smaller: a canary before the rest.
    first_wave_size INTEGER NOT NULL CHECK (first_wave_size > 0),
    wave_size INTEGER NOT NULL CHECK (wave_size > 0),
    failure_threshold INTEGER NOT NULL CHECK (failure_threshold BETWEEN 0 AND 100),
    state TEXT NOT NULL CHECK (state IN ('draft', 'running', 'paused', 'completed', 'cancelled')),
    -- The wave being notified or awaited; 0 before the start.
    wave INTEGER NOT NULL DEFAULT 0,
    waves INTEGER NOT NULL,
    devices INTEGER NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
);
CREATE INDEX fota_campaigns_state ON fota_campaigns (state, id);

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
-- The scheduler asks for a wave's queued devices and tally, and for the
-- campaign's notified devices, on every tick: each an index range, however
-- large the campaign.
CREATE INDEX fota_campaign_devices_wave ON fota_campaign_devices (campaign_id, wave, state);
CREATE INDEX fota_campaign_devices_state ON fota_campaign_devices (campaign_id, state);
CREATE INDEX fota_campaign_devices_device ON fota_campaign_devices (device_id);
