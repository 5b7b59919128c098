-- The knowledge documents a managed reply drew on, as a JSON array of
-- {"document_id", "title"}; '' when it drew on none.
ALTER TABLE messages ADD COLUMN sources TEXT NOT NULL DEFAULT '';
