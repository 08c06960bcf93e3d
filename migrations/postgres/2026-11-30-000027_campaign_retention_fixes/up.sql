-- Which process holds a running import or purge (host, boot, pid and the
-- pid's start time): a node that restarts knows its own dead runs at once
-- and fails (an import) or takes over (a purge) only those, never a run a
-- live node still works on. An import's heartbeat says the same for a
-- holder on another host.
ALTER TABLE import_runs ADD COLUMN holder TEXT NOT NULL DEFAULT '';
ALTER TABLE import_runs ADD COLUMN heartbeat_at BIGINT NOT NULL DEFAULT 0;
-- A rejected file's problems past the first thousand: counted, not listed.
ALTER TABLE import_runs ADD COLUMN unlisted_errors BIGINT NOT NULL DEFAULT 0;
ALTER TABLE purge_runs ADD COLUMN holder TEXT NOT NULL DEFAULT '';
