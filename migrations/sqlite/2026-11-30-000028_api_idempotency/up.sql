-- Idempotency-Key of the REST API: a client that lost the answer to a
-- POST, PUT, PATCH or DELETE sends it again with the same key and gets the
-- first answer instead of a second campaign, order or job. Kept in the
-- database so every node sees the same keys. A row without a response is
-- a request still being carried out (claim, claimed_until); one with a
-- response answers retries until expires_at.
CREATE TABLE api_idempotency_keys (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_id BIGINT NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    method TEXT NOT NULL,
    target TEXT NOT NULL,
    body_sha256 TEXT,
    claim TEXT,
    claimed_until BIGINT NOT NULL,
    response_status INTEGER,
    content_type TEXT,
    location TEXT,
    response_body TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    UNIQUE (token_id, idempotency_key)
);
CREATE INDEX api_idempotency_keys_expiry ON api_idempotency_keys (expires_at);
