-- The accounts the start of every node must seal: those with a password
-- not sealed yet (stored by a release before sealing, or a bulk load). Once
-- every account is sealed this index is empty, and the start's look for
-- work reads nothing of a registry of a million devices. The start's query
-- carries this very condition (omadm::account::IN_CLEAR), so both planners
-- can use the index.
CREATE INDEX dm_accounts_in_clear ON dm_accounts (device_id)
    WHERE server_password NOT LIKE 'sealed:v1:%' OR client_password NOT LIKE 'sealed:v1:%';
