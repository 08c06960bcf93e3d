-- At most one open FOTA session per device, kept by the database: two
-- requests of one handset at the same moment could each find none open and
-- each register one. Sessions that are already duplicates (all but the
-- newest open one of a device) are closed first, with an event saying why.

INSERT INTO fota_events (fota_session_id, at, from_state, to_state, detail)
SELECT f.id, CAST(strftime('%s', 'now') AS INTEGER) * 1000, f.state, 'failed', 'closed: a newer session of the device is open'
FROM fota_sessions f
WHERE f.state IN ('pending', 'querying', 'offered', 'downloaded')
  AND f.id < (SELECT MAX(g.id) FROM fota_sessions g
              WHERE g.device_id = f.device_id
                AND g.state IN ('pending', 'querying', 'offered', 'downloaded'));

UPDATE fota_sessions
SET state = 'failed',
    detail = 'closed: a newer session of the device is open',
    updated_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000
WHERE state IN ('pending', 'querying', 'offered', 'downloaded')
  AND id < (SELECT MAX(g.id) FROM fota_sessions g
            WHERE g.device_id = fota_sessions.device_id
              AND g.state IN ('pending', 'querying', 'offered', 'downloaded'));

CREATE UNIQUE INDEX fota_sessions_one_open ON fota_sessions (device_id)
    WHERE state IN ('pending', 'querying', 'offered', 'downloaded');
