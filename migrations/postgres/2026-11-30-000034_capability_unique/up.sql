-- A make/model may hold one entry per version range: two concurrent loads
-- (two `mdm demo` runs, two nodes) could both find a range free and both
-- add it. Exact copies left by such a race are removed first, keeping the
-- oldest entry, which the audit trail and any edits refer to.
DELETE FROM capabilities
WHERE id NOT IN (
    SELECT MIN(id) FROM capabilities
    GROUP BY make, model, COALESCE(version_min, ''), COALESCE(version_max, '')
);
CREATE UNIQUE INDEX capabilities_range
    ON capabilities (make, model, COALESCE(version_min, ''), COALESCE(version_max, ''));
