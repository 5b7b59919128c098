-- A downgrade waits for the period's end: the plan it moves to, copied from the
-- consultant's when the buyer chose it. pending_tier '' is none.
ALTER TABLE subscriptions ADD COLUMN pending_tier TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN pending_price_cents INTEGER NOT NULL DEFAULT 0;
ALTER TABLE subscriptions ADD COLUMN pending_message_cap INTEGER;
