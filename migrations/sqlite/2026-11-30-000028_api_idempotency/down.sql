DROP INDEX api_idempotency_keys_expiry;
DROP TABLE api_idempotency_keys;
