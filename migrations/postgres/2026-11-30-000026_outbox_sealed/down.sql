-- A release without sealing cannot open a sealed payload: a message that
-- had not gone out yet is failed (queue the bootstrap again), and every
-- sealed row keeps its masked copy as its payload, for the log.
UPDATE outbox SET state = 'failed', last_error = 'sealed payload: queue the bootstrap again',
    claimed_by = NULL, claimed_until = NULL
WHERE payload_view IS NOT NULL AND state IN ('queued', 'sending');
UPDATE outbox SET payload = payload_view WHERE payload_view IS NOT NULL;
ALTER TABLE outbox DROP COLUMN payload_view;
ALTER TABLE outbox DROP COLUMN attempts_before_retry;
