DROP TRIGGER campaigns_take_their_devices ON fota_campaigns;
DROP TRIGGER devices_leave_campaigns ON devices;
DROP FUNCTION fota_campaign_devices_of_deleted_campaigns();
DROP FUNCTION fota_campaign_devices_of_deleted_devices();
-- Members whose device or campaign went while no key held them.
DELETE FROM fota_campaign_devices m
    WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = m.device_id)
       OR NOT EXISTS (SELECT 1 FROM fota_campaigns c WHERE c.id = m.campaign_id);
ALTER TABLE fota_campaign_devices ADD CONSTRAINT fota_campaign_devices_campaign_id_fkey
    FOREIGN KEY (campaign_id) REFERENCES fota_campaigns (id) ON DELETE CASCADE;
ALTER TABLE fota_campaign_devices ADD CONSTRAINT fota_campaign_devices_device_id_fkey
    FOREIGN KEY (device_id) REFERENCES devices (id) ON DELETE CASCADE;
