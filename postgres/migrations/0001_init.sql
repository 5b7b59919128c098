-- Lobby's schema on PostgreSQL. sqlite/migrations/0001_init.sql is the same schema in
-- SQLite's dialect; keep the two in step, with the same numbers.

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL
);

-- One pending code per email, its hash only.
CREATE TABLE login_codes (
    email      TEXT PRIMARY KEY,
    code_hash  TEXT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);

CREATE TABLE consultants (
    id             TEXT PRIMARY KEY,
    slug           TEXT NOT NULL UNIQUE,
    owner_id       TEXT NOT NULL REFERENCES users (id),
    name           TEXT NOT NULL,
    tagline        TEXT NOT NULL DEFAULT '',
    description    TEXT NOT NULL DEFAULT '',
    category       TEXT NOT NULL DEFAULT '',
    tags           TEXT NOT NULL DEFAULT '', -- space-separated
    system_prompt  TEXT NOT NULL DEFAULT '',
    mode           TEXT NOT NULL,
    webhook_url    TEXT NOT NULL DEFAULT '',
    webhook_secret TEXT NOT NULL DEFAULT '',
    model          TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX consultants_owner_id ON consultants (owner_id);
CREATE INDEX consultants_category ON consultants (category, id);

-- The catalog's full-text index: name weighs most, then tagline and tags, then
-- category, then description.
ALTER TABLE consultants ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', name), 'A') ||
    setweight(to_tsvector('english', tagline), 'B') ||
    setweight(to_tsvector('english', tags), 'B') ||
    setweight(to_tsvector('english', category), 'C') ||
    setweight(to_tsvector('english', description), 'D')
) STORED;
CREATE INDEX consultants_search ON consultants USING gin (search);

CREATE TABLE consultant_keys (
    id            TEXT PRIMARY KEY,
    consultant_id TEXT NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ
);
CREATE INDEX consultant_keys_consultant_id ON consultant_keys (consultant_id);

CREATE TABLE plans (
    consultant_id TEXT NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    tier          TEXT NOT NULL,
    position      BIGINT NOT NULL,
    price_cents   BIGINT NOT NULL,
    currency      TEXT NOT NULL,
    message_cap   BIGINT, -- NULL: unlimited
    PRIMARY KEY (consultant_id, tier)
);

CREATE TABLE checkouts (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    consultant_id   TEXT NOT NULL REFERENCES consultants (id),
    tier            TEXT NOT NULL,
    price_cents     BIGINT NOT NULL,
    currency        TEXT NOT NULL,
    message_cap     BIGINT,
    status          TEXT NOT NULL,
    provider        TEXT NOT NULL,
    provider_ref    TEXT NOT NULL DEFAULT '',
    url             TEXT NOT NULL DEFAULT '',
    subscription_id TEXT,
    token_revealed  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      TIMESTAMPTZ NOT NULL,
    expires_at      TIMESTAMPTZ NOT NULL,
    completed_at    TIMESTAMPTZ
);
CREATE INDEX checkouts_user_id ON checkouts (user_id);
CREATE INDEX checkouts_subscription_id ON checkouts (subscription_id);
CREATE UNIQUE INDEX checkouts_provider_ref ON checkouts (provider, provider_ref) WHERE provider_ref <> '';

-- The seed's "access grants": a buyer's access to one consultant at one tier.
CREATE TABLE subscriptions (
    id                   TEXT PRIMARY KEY,
    user_id              TEXT NOT NULL REFERENCES users (id),
    consultant_id        TEXT NOT NULL REFERENCES consultants (id),
    checkout_id          TEXT NOT NULL UNIQUE REFERENCES checkouts (id),
    tier                 TEXT NOT NULL,
    price_cents          BIGINT NOT NULL,
    currency             TEXT NOT NULL,
    message_cap          BIGINT,
    messages_used        BIGINT NOT NULL DEFAULT 0,
    status               TEXT NOT NULL,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE,
    token_hash           TEXT UNIQUE,
    period_start         TIMESTAMPTZ NOT NULL,
    period_end           TIMESTAMPTZ NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL
);
CREATE INDEX subscriptions_user_id ON subscriptions (user_id, id);
CREATE INDEX subscriptions_consultant_id ON subscriptions (consultant_id, status);
CREATE UNIQUE INDEX subscriptions_one_active ON subscriptions (user_id, consultant_id) WHERE status = 'active';

CREATE TABLE conversations (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    consultant_id   TEXT NOT NULL REFERENCES consultants (id),
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX conversations_subscription_id ON conversations (subscription_id, id);
CREATE INDEX conversations_consultant_id ON conversations (consultant_id, updated_at);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    content         TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_conversation_id ON messages (conversation_id, id);
