-- Page tokens: a signed-in user's page (the chat, the widget's frame) acting as the
-- buyer of one of its subscriptions. Only the hash is kept; a token works until it
-- expires or its session ends.
CREATE TABLE page_tokens (
    token_hash      TEXT PRIMARY KEY,
    session_id      TEXT NOT NULL,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX page_tokens_session_id ON page_tokens (session_id, expires_at);
