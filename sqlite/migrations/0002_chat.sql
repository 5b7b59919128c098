-- Chat: the buyer's pseudonym on each conversation, and a reply's model and failure.
ALTER TABLE conversations ADD COLUMN buyer_id TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN error TEXT NOT NULL DEFAULT '';
ALTER TABLE messages ADD COLUMN model TEXT NOT NULL DEFAULT '';
