-- OMA-DM accounts and sessions, and FOTA sessions with their state history (SQLite).

CREATE TABLE dm_accounts (
    device_id BIGINT PRIMARY KEY NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    server_id TEXT NOT NULL,
    server_password TEXT NOT NULL,
    client_username TEXT NOT NULL UNIQUE,
    client_password TEXT NOT NULL,
    client_nonce TEXT NOT NULL,
    server_nonce TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE dm_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    device_id BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    session_id TEXT NOT NULL,
    last_msg_id INTEGER NOT NULL,
    authenticated BOOLEAN NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT '',
    fota_session_id BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX dm_sessions_device ON dm_sessions (device_id);

CREATE TABLE fota_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id BIGINT NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    protocol TEXT NOT NULL CHECK (protocol IN ('omadm', 'iota')),
    state TEXT NOT NULL,
    from_version TEXT NOT NULL,
    to_version TEXT,
    package_id BIGINT REFERENCES firmware_packages (id) ON DELETE SET NULL,
    correlator TEXT,
    result_code INTEGER,
    detail TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX fota_sessions_device ON fota_sessions (device_id, id);
CREATE INDEX fota_sessions_state ON fota_sessions (state, id);

CREATE TABLE fota_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fota_session_id BIGINT NOT NULL REFERENCES fota_sessions (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX fota_events_session ON fota_events (fota_session_id, id);
