-- What each command of a server-initiated OMA-DM job came to: the device's
-- status code per command and the values its Results carried, as a JSON
-- array, so an operator reads a node's value or a refused Replace from the
-- job itself rather than from a joined log line.
ALTER TABLE dm_jobs ADD COLUMN results TEXT NOT NULL DEFAULT '[]';
