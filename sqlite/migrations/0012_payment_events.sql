-- A payment provider's signed events, each applied once: the row is taken with the job
-- that applies it, and applied_at is set in the transaction that has its effect.
CREATE TABLE payment_events (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    provider_type TEXT NOT NULL,
    event         TEXT NOT NULL,
    received_at   DATETIME NOT NULL,
    applied_at    DATETIME,
    outcome       TEXT NOT NULL DEFAULT ''
);

-- The provider's id of a subscription it collects (Stripe's sub_...).
ALTER TABLE subscriptions ADD COLUMN provider_ref TEXT;
CREATE UNIQUE INDEX subscriptions_provider_ref ON subscriptions (provider_ref);

-- A past-due subscription is still its buyer's: no second one to the same consultant.
DROP INDEX subscriptions_one_active;
CREATE UNIQUE INDEX subscriptions_one_active ON subscriptions (user_id, consultant_id) WHERE status IN ('active', 'past_due');
