-- When the request holding an Idempotency-Key committed its changes: set
-- by the request's own write transaction, so a key whose node died after
-- committing and before storing the answer is known to have been carried
-- out, and its retry is not carried out a second time.
ALTER TABLE api_idempotency_keys ADD COLUMN carried_out_at BIGINT;
