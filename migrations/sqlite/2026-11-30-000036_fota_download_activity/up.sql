-- A started package download, as the download endpoint last saw it: when
-- the handset last asked for (or was still receiving) its offered package,
-- and the position in the file that request had reached. Written at most
-- once a minute per session. The sweeper closes an offered session whose
-- download started and stopped short of the end for longer than
-- MDM_FOTA_DOWNLOAD_STALL_MINUTES, rather than after the day an offer the
-- subscriber postponed is given.
ALTER TABLE fota_sessions ADD COLUMN download_at BIGINT;
ALTER TABLE fota_sessions ADD COLUMN download_bytes BIGINT;
-- The sweeper's question: offered sessions whose download went quiet.
CREATE INDEX fota_sessions_download_at ON fota_sessions (download_at)
    WHERE state = 'offered' AND download_at IS NOT NULL;
