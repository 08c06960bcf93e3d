DROP INDEX dm_accounts_in_clear;
