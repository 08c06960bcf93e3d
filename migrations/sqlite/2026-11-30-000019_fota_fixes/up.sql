-- A DM account's updated_at is when its credentials were set (the device
-- page shows it as such; the API gives it with the account). Every DM
-- session rotates the account's nonces, which the engine writes with a new
-- updated_at: an update that leaves the credentials as they were keeps the
-- time they were set.
CREATE TRIGGER dm_accounts_nonces_keep_set_time AFTER UPDATE OF client_nonce, server_nonce ON dm_accounts
WHEN NEW.updated_at IS NOT OLD.updated_at
    AND NEW.server_id IS OLD.server_id
    AND NEW.client_username IS OLD.client_username
    AND NEW.client_password IS OLD.client_password
    AND NEW.server_password IS OLD.server_password
BEGIN
    UPDATE dm_accounts SET updated_at = OLD.updated_at WHERE device_id = NEW.device_id;
END;
