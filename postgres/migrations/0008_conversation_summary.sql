-- Rolling memory: what the consultant remembers of the turns that no longer fit its
-- context, folded in through the message summary_through (a message ID; '' when
-- nothing is folded yet). Replies update it by compare-and-set on summary_through.
ALTER TABLE conversations ADD COLUMN summary_text TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN summary_through TEXT NOT NULL DEFAULT '';
ALTER TABLE conversations ADD COLUMN summary_updated_at TIMESTAMPTZ;
