-- IOTA: the SSPR table store of Preferred Roaming Lists, IOTA sessions run
-- by the OSPP driver, per-handset activation state, and ESN changes (SQLite).

CREATE TABLE prls (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    sspr_table INTEGER NOT NULL UNIQUE,
    prl_id INTEGER NOT NULL UNIQUE,
    name TEXT NOT NULL DEFAULT '',
    bytes BLOB NOT NULL,
    size INTEGER NOT NULL,
    crc INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE iota_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    flow TEXT NOT NULL CHECK (flow IN ('one_button', 'star_code', 'otapa_prl', 'fota')),
    state TEXT NOT NULL CHECK (state IN ('awaiting_handset', 'running', 'completed', 'failed', 'refused', 'abandoned')),
    step TEXT NOT NULL,
    device_id BIGINT REFERENCES devices (id) ON DELETE SET NULL,
    profile_id BIGINT REFERENCES profiles (id) ON DELETE SET NULL,
    esn TEXT,
    meid TEXT,
    prl_sspr_table INTEGER,
    fota_session_id BIGINT REFERENCES fota_sessions (id) ON DELETE SET NULL,
    segment_offset INTEGER NOT NULL DEFAULT 0,
    next_seq INTEGER NOT NULL DEFAULT 1,
    outstanding TEXT NOT NULL DEFAULT '[]',
    last_request_sha TEXT,
    last_response TEXT,
    detail TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX iota_sessions_device ON iota_sessions (device_id, id);
CREATE INDEX iota_sessions_state ON iota_sessions (state, updated_at);

ALTER TABLE devices ADD COLUMN activation_state TEXT NOT NULL DEFAULT 'pending'
    CHECK (activation_state IN ('pending', 'activated', 'deactivated'));
ALTER TABLE devices ADD COLUMN deactivated_at BIGINT;
UPDATE devices SET activation_state = (
    SELECT p.activation_state FROM profiles p WHERE p.id = devices.profile_id
) WHERE profile_id IS NOT NULL;
UPDATE devices SET deactivated_at = updated_at WHERE activation_state = 'deactivated';
CREATE INDEX devices_deactivated ON devices (activation_state, deactivated_at);

CREATE TABLE esn_changes (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    profile_id BIGINT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    variant TEXT NOT NULL CHECK (variant IN ('copy', 'field')),
    old_device_id BIGINT REFERENCES devices (id) ON DELETE SET NULL,
    new_device_id BIGINT REFERENCES devices (id) ON DELETE SET NULL,
    old_esn TEXT,
    new_esn TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'completed', 'cancelled')),
    profile_copy TEXT NOT NULL,
    requested_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    completed_at BIGINT
);
CREATE INDEX esn_changes_profile ON esn_changes (profile_id, id);
CREATE INDEX esn_changes_new_device ON esn_changes (new_device_id, state);

-- Devices retired by an ESN change are purged in their own pass.
ALTER TABLE purge_runs ADD COLUMN last_device_id BIGINT NOT NULL DEFAULT 0;
