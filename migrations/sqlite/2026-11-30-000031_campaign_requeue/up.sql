-- How many times a campaign's skipped devices were queued again: a request
-- names the round it saw, so a double click or a retried call whose answer
-- was lost re-queues nothing twice.
ALTER TABLE fota_campaigns ADD COLUMN requeue_round INTEGER NOT NULL DEFAULT 0;
