-- When an ESN change retired a handset. A retired handset stays
-- de-activated when its line is re-activated (one de-activated with the line
-- follows it back), and the purge takes it while its subscriber stays.
ALTER TABLE devices ADD COLUMN retired_at BIGINT;
-- Handsets an ESN change de-activated (its audit event travels with a
-- handset through the archive and back).
UPDATE devices SET retired_at = deactivated_at
 WHERE activation_state = 'deactivated'
   AND EXISTS (SELECT 1 FROM audit_events a
                WHERE a.entity_kind = 'device' AND a.entity_id = devices.id
                  AND a.action = 'de-activated by ESN change');
-- Handsets left de-activated on a line that was re-activated since: they
-- were de-activated with it and now follow it back.
UPDATE devices SET activation_state = (SELECT p.activation_state FROM profiles p
                                        WHERE p.id = devices.profile_id),
                   deactivated_at = NULL
 WHERE activation_state = 'deactivated'
   AND retired_at IS NULL
   AND profile_id IN (SELECT id FROM profiles WHERE activation_state <> 'deactivated');
