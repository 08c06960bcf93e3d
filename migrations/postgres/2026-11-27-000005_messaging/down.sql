DROP TABLE dm_jobs;
DROP TABLE sms_inbound;
DROP TABLE outbox;
