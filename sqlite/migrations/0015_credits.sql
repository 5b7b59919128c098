-- Per-message plans: a plan, and the checkouts and subscriptions copied from it, say
-- how it is priced ('' a period, 'message' each message from credits).
ALTER TABLE plans ADD COLUMN per TEXT NOT NULL DEFAULT '';
ALTER TABLE checkouts ADD COLUMN per TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN per TEXT NOT NULL DEFAULT '';

-- A user's credits, in the one credit currency. The CHECK is the last word on
-- "never below zero", whatever a statement does.
CREATE TABLE credit_balances (
    user_id       TEXT PRIMARY KEY REFERENCES users (id),
    balance_cents INTEGER NOT NULL CHECK (balance_cents >= 0),
    updated_at    DATETIME NOT NULL
);

-- Purchases of credits. Their ids are checkout ids (chk_), read and paid as any checkout.
CREATE TABLE credit_checkouts (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id),
    amount_cents INTEGER NOT NULL,
    currency     TEXT NOT NULL,
    status       TEXT NOT NULL,
    provider     TEXT NOT NULL,
    provider_ref TEXT NOT NULL DEFAULT '',
    url          TEXT NOT NULL DEFAULT '',
    created_at   DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL,
    completed_at DATETIME
);
CREATE INDEX credit_checkouts_user_id ON credit_checkouts (user_id, status);

-- Credits spent, one row a message, in the consultant's name: the ledger of credit
-- revenue. Keyed by the reply the message paid for, which gives the credits back if it
-- fails for good. No foreign keys: a row is written with every message, and its
-- consultant and user are never deleted.
CREATE TABLE credit_spends (
    reply_id      TEXT PRIMARY KEY,
    consultant_id TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    period        TEXT NOT NULL, -- the month, 2026-12, UTC
    gross_cents   INTEGER NOT NULL,
    fee_cents     INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    created_at    DATETIME NOT NULL
);
CREATE INDEX credit_spends_consultant ON credit_spends (consultant_id, period);
