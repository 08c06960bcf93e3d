-- A campaign's population may be narrowed beyond its update path: to the
-- lines whose MDN starts with a prefix (an area code or exchange: a
-- market), and to one billing account (an enterprise's fleet). NULL: no
-- narrowing.
ALTER TABLE fota_campaigns ADD COLUMN mdn_prefix TEXT;
ALTER TABLE fota_campaigns ADD COLUMN account_id TEXT;
