-- Firmware repository (SQLite): delta and full packages, their lifecycle
-- history, and the install notifications devices post back.

CREATE TABLE firmware_packages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    make TEXT NOT NULL,
    model TEXT NOT NULL,
    from_version TEXT,
    to_version TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    release_notes TEXT NOT NULL DEFAULT '',
    mandatory BOOLEAN NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'draft'
        CHECK (state IN ('draft', 'testing', 'released', 'withdrawn')),
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX firmware_packages_path ON firmware_packages (make, model, from_version, state);
CREATE INDEX firmware_packages_sha ON firmware_packages (sha256);

CREATE TABLE firmware_revisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id BIGINT NOT NULL REFERENCES firmware_packages (id) ON DELETE CASCADE,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT ''
);
CREATE INDEX firmware_revisions_package ON firmware_revisions (package_id, id);

CREATE TABLE install_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    package_id BIGINT NOT NULL REFERENCES firmware_packages (id) ON DELETE CASCADE,
    status_code INTEGER NOT NULL,
    status_text TEXT NOT NULL,
    remote TEXT NOT NULL DEFAULT '',
    at BIGINT NOT NULL
);
CREATE INDEX install_notifications_package ON install_notifications (package_id, id);
