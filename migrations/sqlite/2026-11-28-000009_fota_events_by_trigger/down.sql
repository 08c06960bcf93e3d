DROP TRIGGER fota_session_moved;
DROP TRIGGER fota_session_created;
