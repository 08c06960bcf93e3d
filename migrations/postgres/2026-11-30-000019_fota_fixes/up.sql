-- A DM account's updated_at is when its credentials were set (the device
-- page shows it as such; the API gives it with the account). Every DM
-- session rotates the account's nonces, which the engine writes with a new
-- updated_at: an update that leaves the credentials as they were keeps the
-- time they were set.
CREATE FUNCTION dm_accounts_keep_set_time() RETURNS trigger AS $$
BEGIN
    NEW.updated_at := OLD.updated_at;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER dm_accounts_nonces_keep_set_time BEFORE UPDATE OF client_nonce, server_nonce ON dm_accounts
    FOR EACH ROW WHEN (NEW.updated_at IS DISTINCT FROM OLD.updated_at
        AND NEW.server_id IS NOT DISTINCT FROM OLD.server_id
        AND NEW.client_username IS NOT DISTINCT FROM OLD.client_username
        AND NEW.client_password IS NOT DISTINCT FROM OLD.client_password
        AND NEW.server_password IS NOT DISTINCT FROM OLD.server_password)
    EXECUTE FUNCTION dm_accounts_keep_set_time();
