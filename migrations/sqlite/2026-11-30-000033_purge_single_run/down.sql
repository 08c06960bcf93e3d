DROP INDEX purge_runs_one_running;
