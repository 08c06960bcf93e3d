DROP INDEX outbox_unsealed_secrets;
DROP INDEX iota_sessions_profile;
