-- At most one purge runs at a time, held to by the database: two nodes that
-- both found no run running and both inserted one would archive and delete
-- the same subscribers. Runs left running side by side by an older release
-- keep the oldest; the others end failed, saying why.
UPDATE purge_runs
SET state = 'failed',
    error = 'stopped on upgrade: another purge run (the oldest) was running at the same time; only one may run'
WHERE state = 'running'
  AND id > (SELECT MIN(id) FROM purge_runs WHERE state = 'running');

CREATE UNIQUE INDEX purge_runs_one_running ON purge_runs (state) WHERE state = 'running';
