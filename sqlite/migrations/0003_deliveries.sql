-- Self-hosted consultants: each buyer message to a webhook or polling consultant is a
-- delivery (the event a webhook POSTs or the inbox hands out) with a log of attempts.
-- River's own tables (river_job and the rest) are migrated by River in the same
-- transaction, after these.
ALTER TABLE consultants ADD COLUMN previous_webhook_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE consultants ADD COLUMN previous_secret_until DATETIME;
ALTER TABLE consultants ADD COLUMN webhook_disabled_at DATETIME;
ALTER TABLE consultants ADD COLUMN webhook_disabled_reason TEXT NOT NULL DEFAULT '';

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL UNIQUE, -- the webhook-id, stable across attempts
    consultant_id   TEXT NOT NULL REFERENCES consultants (id),
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    message_id      TEXT NOT NULL REFERENCES messages (id),
    reply_id        TEXT NOT NULL REFERENCES messages (id),
    mode            TEXT NOT NULL,      -- webhook | polling
    status          TEXT NOT NULL,      -- pending | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    round           INTEGER NOT NULL DEFAULT 0, -- manual retries so far; jobs of older rounds stop
    round_start     INTEGER NOT NULL DEFAULT 0, -- attempts before this round: the schedule restarts
    payload         TEXT NOT NULL DEFAULT '', -- the body, fixed at the first attempt
    last_error      TEXT NOT NULL DEFAULT '',
    next_attempt_at DATETIME,
    leased_until    DATETIME,        -- polling: handed out until then
    delivered_at    DATETIME,
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);
CREATE INDEX deliveries_consultant_id ON deliveries (consultant_id, id);
CREATE INDEX deliveries_inbox ON deliveries (consultant_id, status, id);
CREATE INDEX deliveries_reply_id ON deliveries (reply_id);
CREATE INDEX deliveries_message_id ON deliveries (message_id);

CREATE TABLE delivery_attempts (
    delivery_id  TEXT NOT NULL REFERENCES deliveries (id),
    n            INTEGER NOT NULL,
    consultant_id TEXT NOT NULL,
    attempted_at DATETIME NOT NULL,
    status_code  INTEGER NOT NULL, -- 0 when no response came
    latency_ms   INTEGER NOT NULL,
    error        TEXT NOT NULL,
    response     TEXT NOT NULL,    -- the response body's first bytes
    PRIMARY KEY (delivery_id, n)
);
CREATE INDEX delivery_attempts_health ON delivery_attempts (consultant_id, attempted_at);
