DROP TRIGGER dm_accounts_nonces_keep_set_time ON dm_accounts;
DROP FUNCTION dm_accounts_keep_set_time();
