-- A message whose payload carries secrets (an OMA CP bootstrap: the
-- device's DM passwords) keeps that payload sealed under MDM_SECRETS_KEY;
-- the log decodes this copy instead, the same message with the secrets
-- masked. Rows queued before this are sealed when a node starts.
ALTER TABLE outbox ADD COLUMN payload_view BYTEA;
-- A failed message an operator sends again keeps its count of attempts;
-- the count it had then is kept too, so the retry gets the full number of
-- attempts (MDM_SMS_MAX_ATTEMPTS) of its own.
ALTER TABLE outbox ADD COLUMN attempts_before_retry INTEGER NOT NULL DEFAULT 0;
