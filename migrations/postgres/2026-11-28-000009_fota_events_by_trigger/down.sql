DROP TRIGGER fota_session_moved ON fota_sessions;
DROP TRIGGER fota_session_created ON fota_sessions;
DROP FUNCTION fota_session_event();
