-- The correlator of a job's Exec, which the handset echoes in the Generic
-- Alert that reports an operation it accepted (202) to finish later (a
-- LAWMO wipe): the report finds its job by (device, correlator) instead of
-- reading the device's recent jobs' results one by one.
ALTER TABLE dm_jobs ADD COLUMN correlator TEXT;
-- Jobs that already ran: their first Exec's correlator, from their results.
UPDATE dm_jobs SET correlator = (
    SELECT r.value ->> 'correlator' FROM json_array_elements(dm_jobs.results::json) WITH ORDINALITY AS r (value, n)
    WHERE coalesce(r.value ->> 'correlator', '') <> ''
    ORDER BY r.n LIMIT 1
) WHERE results LIKE '%"correlator"%';
CREATE INDEX dm_jobs_correlator ON dm_jobs (device_id, correlator);
