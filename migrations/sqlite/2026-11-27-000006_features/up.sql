-- The feature catalogue, feature activations (the WAP deck and self-service
-- flows) and the provisioning detail records billing reconciles against (SQLite).

CREATE TABLE features (
    code TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    price TEXT NOT NULL,
    legal_text TEXT NOT NULL,
    billing_service TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

INSERT INTO features (code, name, description, price, legal_text, billing_service, created_at, updated_at) VALUES
  ('mobile_web', 'Mobile Web', 'Browse the web on your phone.', '$9.99 per month, billed to your account', 'Mobile Web is billed monthly until cancelled. Data use is subject to the fair use policy. You may cancel at any time; charges for the current month are not refunded.', 'WAP', 0, 0),
  ('text_messaging', 'Text Messaging', 'Send and receive text messages.', '$4.99 per month for unlimited texts', 'Text Messaging is billed monthly until cancelled. Premium messages are charged separately by their provider.', 'SMS', 0, 0),
  ('picture_messaging', 'Picture Messaging', 'Send and receive pictures.', '$5.99 per month', 'Picture Messaging is billed monthly until cancelled. Messages larger than 600 KB may not be delivered.', 'MMS', 0, 0),
  ('video_messaging', 'Video Messaging', 'Send and receive video clips.', '$7.99 per month', 'Video Messaging is billed monthly until cancelled. Clips are limited to 30 seconds.', 'VMS', 0, 0),
  ('touch2talk', 'Touch2Talk', 'Push-to-talk with your contacts.', '$9.99 per month', 'Touch2Talk is billed monthly until cancelled. It is not a substitute for emergency (911) calling.', 'PTT', 0, 0);

CREATE TABLE feature_activations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL UNIQUE,
    profile_id BIGINT NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    device_id BIGINT REFERENCES devices (id) ON DELETE SET NULL,
    feature TEXT NOT NULL REFERENCES features (code),
    action TEXT NOT NULL CHECK (action IN ('add', 'remove')),
    channel TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('offered', 'terms_shown', 'provisioning', 'provisioned', 'failed')),
    idempotency_key TEXT NOT NULL,
    accepted_at BIGINT,
    transaction_id TEXT,
    failure_code TEXT,
    failure_message TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX feature_activations_profile ON feature_activations (profile_id, id);

CREATE TABLE provisioning_records (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at BIGINT NOT NULL,
    profile_id BIGINT,
    mdn TEXT NOT NULL,
    esn TEXT,
    meid TEXT,
    feature TEXT NOT NULL,
    action TEXT NOT NULL,
    channel TEXT NOT NULL,
    outcome TEXT NOT NULL,
    code TEXT NOT NULL DEFAULT '',
    transaction_id TEXT NOT NULL DEFAULT '',
    activation_id BIGINT
);
CREATE INDEX provisioning_records_at ON provisioning_records (at, id);
