-- Knowledge bases: each consultant's uploaded documents, the chunks ingestion cuts them
-- into, and one vector per chunk (of the model that made it). Full text is a generated
-- tsvector with a GIN index; vectors are pgvector's, of any dimension, each dimension
-- with an HNSW index of its own that the store makes when it first stores one.
-- CREATE EXTENSION needs a superuser unless the extension is already in the database.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    consultant_id TEXT NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    content       BYTEA NOT NULL,
    status        TEXT NOT NULL,
    chunks_done   INTEGER NOT NULL DEFAULT 0,
    chunks_total  INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (consultant_id, sha256)
);
CREATE INDEX documents_consultant_id ON documents (consultant_id, id);

CREATE TABLE chunks (
    id              TEXT PRIMARY KEY,
    document_id     TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    consultant_id   TEXT NOT NULL,
    position        INTEGER NOT NULL,
    heading         TEXT NOT NULL,
    text            TEXT NOT NULL,
    embedding_model TEXT,
    embedding_dim   INTEGER,
    embedding       vector
);
CREATE INDEX chunks_document_id ON chunks (document_id, position);
CREATE INDEX chunks_consultant_model ON chunks (consultant_id, embedding_model);

ALTER TABLE chunks ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', heading), 'A') || setweight(to_tsvector('english', text), 'B')
) STORED;
CREATE INDEX chunks_search ON chunks USING gin (search);
