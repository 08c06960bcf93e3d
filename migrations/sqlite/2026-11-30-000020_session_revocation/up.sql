-- Sessions live in signed cookies; these generations are what the server
-- holds against them. A session carries the generation it signed in with
-- and ends once it has moved: a staff user disabled, given a new password
-- or signing out; a subscriber signing out (a line without a row here is
-- at generation 0).
ALTER TABLE users ADD COLUMN session_generation BIGINT NOT NULL DEFAULT 0;
CREATE TABLE subscriber_session_generations (
    profile_id BIGINT PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
    generation BIGINT NOT NULL
);
