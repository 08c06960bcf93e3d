-- Every FOTA session's creation and state change is recorded by the
-- database itself: no writer (the engines, the sweeper, an operator's SQL)
-- can move a session without its event, and the event costs no round trip
-- of its own. The event carries the session's detail and updated_at as the
-- change left them.
CREATE FUNCTION fota_session_event() RETURNS trigger AS $$
BEGIN
    INSERT INTO fota_events (fota_session_id, at, from_state, to_state, detail)
    VALUES (
        NEW.id,
        NEW.updated_at,
        CASE WHEN TG_OP = 'UPDATE' THEN OLD.state END,
        NEW.state,
        NEW.detail
    );
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER fota_session_created AFTER INSERT ON fota_sessions
    FOR EACH ROW EXECUTE FUNCTION fota_session_event();

CREATE TRIGGER fota_session_moved AFTER UPDATE OF state ON fota_sessions
    FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION fota_session_event();
