-- A line's IOTA sessions are listed by profile, newest first.
CREATE INDEX iota_sessions_profile ON iota_sessions (profile_id, id);
-- Every start looks for bootstrap payloads stored before sealing (no masked
-- copy yet); a partial index holds only those rows, so the scan costs what
-- they number, not the outbox's size. Its predicate is written as the scan
-- writes it (a literal kind), so both planners can prove it applies.
CREATE INDEX outbox_unsealed_secrets ON outbox (id) WHERE kind = 'cp_bootstrap' AND payload_view IS NULL;
