ALTER TABLE api_idempotency_keys DROP COLUMN carried_out_at;
