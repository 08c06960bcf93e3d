DROP INDEX fota_campaign_devices_device;
DROP INDEX fota_campaign_devices_state;
DROP INDEX fota_campaign_devices_wave;
DROP TABLE fota_campaign_devices;
DROP INDEX fota_campaigns_state;
DROP TABLE fota_campaigns;
