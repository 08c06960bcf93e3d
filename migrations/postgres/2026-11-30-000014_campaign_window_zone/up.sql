-- The IANA time zone a campaign's daily window is kept in (a market's own
-- night through daylight saving); NULL for UTC.
ALTER TABLE fota_campaigns ADD COLUMN window_zone TEXT;
