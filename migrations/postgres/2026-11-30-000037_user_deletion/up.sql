-- A deleted staff account stays as a tombstone: its row keeps the username,
-- which the history (audit trail, package revisions, imports, campaigns,
-- purge runs) records as text ("user:NAME"), so that name keeps meaning that
-- person and cannot be given to a new account. Set when an administrator
-- deletes the account; the row is then disabled and holds no password.
ALTER TABLE users ADD COLUMN deleted_at BIGINT;
