-- Planning a campaign over a million devices spent most of its time in the
-- foreign-key checks PostgreSQL runs per inserted row (each one locking the
-- device and the campaign row it points at): 8.6 s of 13.3 s measured here.
-- Members are only ever inserted by the one INSERT … SELECT that reads them
-- from devices for an existing campaign, so the checks prove nothing; what
-- the keys also did, removing members with their device or campaign, is
-- kept by statement-level triggers (one DELETE per purge batch, not one per
-- device). SQLite keeps its foreign keys: its checks are cheap.
ALTER TABLE fota_campaign_devices DROP CONSTRAINT fota_campaign_devices_device_id_fkey;
ALTER TABLE fota_campaign_devices DROP CONSTRAINT fota_campaign_devices_campaign_id_fkey;

CREATE FUNCTION fota_campaign_devices_of_deleted_devices() RETURNS trigger AS $$
BEGIN
    DELETE FROM fota_campaign_devices WHERE device_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE FUNCTION fota_campaign_devices_of_deleted_campaigns() RETURNS trigger AS $$
BEGIN
    DELETE FROM fota_campaign_devices WHERE campaign_id IN (SELECT id FROM gone);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER devices_leave_campaigns AFTER DELETE ON devices
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION fota_campaign_devices_of_deleted_devices();

CREATE TRIGGER campaigns_take_their_devices AFTER DELETE ON fota_campaigns
    REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION fota_campaign_devices_of_deleted_campaigns();
