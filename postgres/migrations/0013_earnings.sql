-- The earnings ledger: one row per charge and refund a payment event reported, in
-- the consultant's name, so that an owner's earnings sum to gross - fee = net.
CREATE TABLE earnings (
    event_id        TEXT PRIMARY KEY REFERENCES payment_events (id),
    consultant_id   TEXT NOT NULL REFERENCES consultants (id),
    subscription_id TEXT REFERENCES subscriptions (id),
    kind            TEXT NOT NULL,
    gross_cents     BIGINT NOT NULL,
    fee_cents       BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX earnings_consultant ON earnings (consultant_id, occurred_at);

-- The provider's customer who pays a subscription: refunds name the customer.
ALTER TABLE subscriptions ADD COLUMN customer_ref TEXT;
CREATE INDEX subscriptions_customer_ref ON subscriptions (customer_ref);
