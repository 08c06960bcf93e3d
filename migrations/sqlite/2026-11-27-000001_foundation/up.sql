-- Foundation schema (SQLite). Times are UTC milliseconds since the epoch so
-- that both backends share one set of query code and sort the same way.

CREATE TABLE profiles (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mdn TEXT NOT NULL UNIQUE,
    min TEXT NOT NULL,
    imsi TEXT,
    account_id TEXT NOT NULL,
    subscriber_name TEXT NOT NULL,
    sid_nid_pairs TEXT NOT NULL DEFAULT '',
    accolc INTEGER NOT NULL DEFAULT 0,
    scm INTEGER NOT NULL DEFAULT 234,
    mob_p_rev INTEGER NOT NULL DEFAULT 6,
    slot_cycle_index INTEGER NOT NULL DEFAULT 2,
    local_control BOOLEAN NOT NULL DEFAULT 0,
    mob_term_home BOOLEAN NOT NULL DEFAULT 1,
    mob_term_for_sid BOOLEAN NOT NULL DEFAULT 1,
    mob_term_for_nid BOOLEAN NOT NULL DEFAULT 1,
    prl_id INTEGER,
    sspr_table INTEGER,
    pending_prl_id INTEGER,
    nai TEXT,
    home_agent TEXT,
    mn_ha_spi BIGINT,
    mn_aaa_spi BIGINT,
    puzl_id INTEGER,
    brew_url TEXT,
    features TEXT NOT NULL DEFAULT '',
    activation_state TEXT NOT NULL DEFAULT 'pending'
        CHECK (activation_state IN ('pending', 'activated', 'deactivated')),
    state_changed_at BIGINT NOT NULL,
    new_esn TEXT,
    activated_esn TEXT,
    pin_hash TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX profiles_min ON profiles (min);
CREATE INDEX profiles_account ON profiles (account_id);
-- Purge walks deactivated profiles in id order; this index gives that order.
CREATE INDEX profiles_state ON profiles (activation_state, id);

CREATE TABLE devices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    esn TEXT UNIQUE,
    meid TEXT UNIQUE,
    pesn TEXT,
    make TEXT NOT NULL,
    model TEXT NOT NULL,
    firmware_version TEXT NOT NULL,
    profile_id BIGINT REFERENCES profiles (id) ON DELETE SET NULL,
    last_contact_at BIGINT,
    last_protocol TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CHECK (esn IS NOT NULL OR meid IS NOT NULL)
);
CREATE INDEX devices_pesn ON devices (pesn);
CREATE INDEX devices_mmv ON devices (make, model, firmware_version, id);
CREATE INDEX devices_model ON devices (model, id);
CREATE INDEX devices_version ON devices (firmware_version, id);
CREATE INDEX devices_profile ON devices (profile_id);

CREATE TABLE capabilities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    make TEXT NOT NULL,
    model TEXT NOT NULL,
    version_min TEXT,
    version_max TEXT,
    protocol TEXT NOT NULL CHECK (protocol IN ('omadm', 'iota', 'both')),
    fota BOOLEAN NOT NULL DEFAULT 0,
    brew BOOLEAN NOT NULL DEFAULT 0,
    features TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX capabilities_mm ON capabilities (make, model);

CREATE TABLE iota_esn_series (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    make TEXT NOT NULL,
    first_esn BIGINT NOT NULL,
    last_esn BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    CHECK (first_esn <= last_esn)
);
CREATE INDEX iota_esn_series_first ON iota_esn_series (first_esn);

CREATE TABLE audit_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    entity_kind TEXT NOT NULL,
    entity_id BIGINT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_entity ON audit_events (entity_kind, entity_id, id);

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'firmware', 'care')),
    disabled BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'firmware', 'care')),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    last_used_at BIGINT
);

CREATE TABLE login_failures (
    throttle_key TEXT PRIMARY KEY NOT NULL,
    failures INTEGER NOT NULL,
    window_start BIGINT NOT NULL,
    locked_until BIGINT
);

CREATE TABLE import_runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    filename TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('running', 'imported', 'rejected', 'failed')),
    total_lines BIGINT NOT NULL DEFAULT 0,
    processed_lines BIGINT NOT NULL DEFAULT 0,
    imported_lines BIGINT NOT NULL DEFAULT 0,
    errors TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    finished_at BIGINT
);
