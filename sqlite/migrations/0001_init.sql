-- Lobby's schema on SQLite. postgres/migrations/0001_init.sql is the same schema in
-- PostgreSQL's dialect; keep the two in step, with the same numbers.

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    email      TEXT NOT NULL UNIQUE,
    created_at DATETIME NOT NULL
);

-- One pending code per email, its hash only.
CREATE TABLE login_codes (
    email      TEXT PRIMARY KEY,
    code_hash  TEXT NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    expires_at DATETIME NOT NULL,
    created_at DATETIME NOT NULL
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL
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
    created_at     DATETIME NOT NULL,
    updated_at     DATETIME NOT NULL
);
CREATE INDEX consultants_owner_id ON consultants (owner_id);
CREATE INDEX consultants_category ON consultants (category, id);

-- The catalog's full-text index, kept by triggers.
CREATE VIRTUAL TABLE consultants_fts USING fts5 (
    name, tagline, description, category, tags,
    content = 'consultants', content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER consultants_fts_insert AFTER INSERT ON consultants BEGIN
    INSERT INTO consultants_fts (rowid, name, tagline, description, category, tags)
    VALUES (new.rowid, new.name, new.tagline, new.description, new.category, new.tags);
END;
CREATE TRIGGER consultants_fts_delete AFTER DELETE ON consultants BEGIN
    INSERT INTO consultants_fts (consultants_fts, rowid, name, tagline, description, category, tags)
    VALUES ('delete', old.rowid, old.name, old.tagline, old.description, old.category, old.tags);
END;
CREATE TRIGGER consultants_fts_update AFTER UPDATE ON consultants BEGIN
    INSERT INTO consultants_fts (consultants_fts, rowid, name, tagline, description, category, tags)
    VALUES ('delete', old.rowid, old.name, old.tagline, old.description, old.category, old.tags);
    INSERT INTO consultants_fts (rowid, name, tagline, description, category, tags)
    VALUES (new.rowid, new.name, new.tagline, new.description, new.category, new.tags);
END;

CREATE TABLE consultant_keys (
    id            TEXT PRIMARY KEY,
    consultant_id TEXT NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    DATETIME NOT NULL,
    revoked_at    DATETIME
);
CREATE INDEX consultant_keys_consultant_id ON consultant_keys (consultant_id);

CREATE TABLE plans (
    consultant_id TEXT NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    tier          TEXT NOT NULL,
    position      INTEGER NOT NULL,
    price_cents   INTEGER NOT NULL,
    currency      TEXT NOT NULL,
    message_cap   INTEGER, -- NULL: unlimited
    PRIMARY KEY (consultant_id, tier)
);

CREATE TABLE checkouts (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users (id),
    consultant_id   TEXT NOT NULL REFERENCES consultants (id),
    tier            TEXT NOT NULL,
    price_cents     INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    message_cap     INTEGER,
    status          TEXT NOT NULL,
    provider        TEXT NOT NULL,
    provider_ref    TEXT NOT NULL DEFAULT '',
    url             TEXT NOT NULL DEFAULT '',
    subscription_id TEXT,
    token_revealed  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at      DATETIME NOT NULL,
    expires_at      DATETIME NOT NULL,
    completed_at    DATETIME
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
    price_cents          INTEGER NOT NULL,
    currency             TEXT NOT NULL,
    message_cap          INTEGER,
    messages_used        INTEGER NOT NULL DEFAULT 0,
    status               TEXT NOT NULL,
    cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE,
    token_hash           TEXT UNIQUE,
    period_start         DATETIME NOT NULL,
    period_end           DATETIME NOT NULL,
    created_at           DATETIME NOT NULL,
    updated_at           DATETIME NOT NULL
);
CREATE INDEX subscriptions_user_id ON subscriptions (user_id, id);
CREATE INDEX subscriptions_consultant_id ON subscriptions (consultant_id, status);
CREATE UNIQUE INDEX subscriptions_one_active ON subscriptions (user_id, consultant_id) WHERE status = 'active';

CREATE TABLE conversations (
    id              TEXT PRIMARY KEY,
    subscription_id TEXT NOT NULL REFERENCES subscriptions (id),
    consultant_id   TEXT NOT NULL REFERENCES consultants (id),
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);
CREATE INDEX conversations_subscription_id ON conversations (subscription_id, id);
CREATE INDEX conversations_consultant_id ON conversations (consultant_id, updated_at);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    content         TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      DATETIME NOT NULL,
    updated_at      DATETIME NOT NULL
);
CREATE INDEX messages_conversation_id ON messages (conversation_id, id);
