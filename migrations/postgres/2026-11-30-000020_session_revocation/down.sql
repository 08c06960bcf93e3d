DROP TABLE subscriber_session_generations;
ALTER TABLE users DROP COLUMN session_generation;
