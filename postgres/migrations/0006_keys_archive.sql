-- When each consultant key was last used (kept to the minute), and consultants taken
-- out of the catalog. A key's revoked_at may lie ahead: the end of a rotation's overlap.
ALTER TABLE consultant_keys ADD COLUMN last_used_at TIMESTAMPTZ;
ALTER TABLE consultants ADD COLUMN archived_at TIMESTAMPTZ;
