-- The canary a campaign was planned with, by its size: wave 1, which must
-- prove the package before wave 2 goes out (a canary whose devices were all
-- skipped holds the campaign, and its skipped devices re-queued before
-- wave 2 rejoin it). NULL: no canary, every wave alike. Asked for
-- explicitly now; a campaign planned before kept its canary only by a first
-- wave sized apart from the rest, so that is what it keeps meaning.
ALTER TABLE fota_campaigns ADD COLUMN canary INTEGER;
UPDATE fota_campaigns SET canary = first_wave_size WHERE first_wave_size <> wave_size;
