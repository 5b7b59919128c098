-- What a payment provider made for Lobby's objects, made once: a product per
-- consultant, a recurring price per plan at one price, a payout account per owner.
CREATE TABLE provider_products (
    consultant_id TEXT PRIMARY KEY REFERENCES consultants (id),
    ref           TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE TABLE provider_prices (
    consultant_id TEXT NOT NULL REFERENCES consultants (id),
    tier          TEXT NOT NULL,
    price_cents   BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    ref           TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consultant_id, tier, price_cents, currency)
);
CREATE TABLE payout_accounts (
    user_id    TEXT PRIMARY KEY REFERENCES users (id),
    ref        TEXT NOT NULL UNIQUE,
    status     TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
