-- The SMS outbox, inbound short messages and server-initiated OMA-DM jobs (SQLite).

CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    device_id BIGINT REFERENCES devices (id) ON DELETE SET NULL,
    mdn TEXT NOT NULL,
    payload BLOB NOT NULL,
    data_coding INTEGER NOT NULL,
    wdp_port INTEGER,
    summary TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL CHECK (state IN ('queued', 'sending', 'submitted', 'delivered', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    smsc_message_id TEXT,
    last_error TEXT NOT NULL DEFAULT '',
    next_attempt_at BIGINT NOT NULL,
    claimed_by TEXT,
    claimed_until BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    submitted_at BIGINT,
    delivered_at BIGINT
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at, id);
CREATE INDEX outbox_mdn ON outbox (mdn, id);
CREATE INDEX outbox_smsc_message ON outbox (smsc_message_id);

CREATE TABLE sms_inbound (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source_addr TEXT NOT NULL,
    destination_addr TEXT NOT NULL,
    data_coding INTEGER NOT NULL,
    body BLOB NOT NULL,
    handled_by TEXT NOT NULL DEFAULT '',
    result TEXT NOT NULL DEFAULT '',
    received_at BIGINT NOT NULL
);
CREATE INDEX sms_inbound_source ON sms_inbound (source_addr, id);

CREATE TABLE dm_jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    dm_session_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    commands TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('notified', 'running', 'done', 'failed', 'expired')),
    outbox_id BIGINT REFERENCES outbox (id) ON DELETE SET NULL,
    fota_session_id BIGINT REFERENCES fota_sessions (id) ON DELETE SET NULL,
    detail TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX dm_jobs_device ON dm_jobs (device_id, id);
CREATE INDEX dm_jobs_state ON dm_jobs (state, id);
