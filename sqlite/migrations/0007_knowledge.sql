-- Knowledge bases: each consultant's uploaded documents, the chunks ingestion cuts them
-- into, and one vector per chunk (of the model that made it). Full text is an FTS5
-- index over the chunks' rowids, kept in step by triggers; vectors are little-endian
-- float32 blobs that the store ranks exactly, in Go.
CREATE TABLE documents (
    id            TEXT PRIMARY KEY,
    consultant_id TEXT NOT NULL REFERENCES consultants (id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    bytes         BIGINT NOT NULL,
    sha256        TEXT NOT NULL,
    content       BLOB NOT NULL,
    status        TEXT NOT NULL,
    chunks_done   INTEGER NOT NULL DEFAULT 0,
    chunks_total  INTEGER NOT NULL DEFAULT 0,
    error         TEXT NOT NULL DEFAULT '',
    created_at    DATETIME NOT NULL,
    updated_at    DATETIME NOT NULL,
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
    embedding       BLOB
);
CREATE INDEX chunks_document_id ON chunks (document_id, position);
CREATE INDEX chunks_consultant_model ON chunks (consultant_id, embedding_model);
-- The exact vector search reads a consultant's vectors from this index alone, in
-- order, instead of a table row (text and all) each.
CREATE INDEX chunks_vectors ON chunks (consultant_id, embedding_model, embedding_dim, document_id, embedding);

CREATE VIRTUAL TABLE chunks_fts USING fts5 (
    text, heading,
    content = 'chunks', content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text, heading) VALUES (new.rowid, new.text, new.heading);
END;
CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text, heading) VALUES ('delete', old.rowid, old.text, old.heading);
END;
CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text, heading ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text, heading) VALUES ('delete', old.rowid, old.text, old.heading);
    INSERT INTO chunks_fts (rowid, text, heading) VALUES (new.rowid, new.text, new.heading);
END;
