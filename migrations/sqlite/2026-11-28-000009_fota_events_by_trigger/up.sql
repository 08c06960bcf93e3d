-- Every FOTA session's creation and state change is recorded by the
-- database itself: no writer (the engines, the sweeper, an operator's SQL)
-- can move a session without its event, and the event costs no statement
-- of its own. The event carries the session's detail and updated_at as the
-- change left them.
CREATE TRIGGER fota_session_created AFTER INSERT ON fota_sessions
BEGIN
    INSERT INTO fota_events (fota_session_id, at, from_state, to_state, detail)
    VALUES (NEW.id, NEW.updated_at, NULL, NEW.state, NEW.detail);
END;

CREATE TRIGGER fota_session_moved AFTER UPDATE OF state ON fota_sessions
WHEN OLD.state IS NOT NEW.state
BEGIN
    INSERT INTO fota_events (fota_session_id, at, from_state, to_state, detail)
    VALUES (NEW.id, NEW.updated_at, OLD.state, NEW.state, NEW.detail);
END;
