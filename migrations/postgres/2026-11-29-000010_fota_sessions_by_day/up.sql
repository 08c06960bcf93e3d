-- The FOTA sessions screen counts the last fortnight's sessions by day and
-- outcome; this index answers that from the index alone, however long the
-- history grows.
CREATE INDEX fota_sessions_created ON fota_sessions (created_at, state);
