-- Shared TTL cache for every service (search results, LLM answers, ...). Mirrors SQLite's 0001.
-- UNLOGGED: a cache need not survive a server crash, and writes skip the WAL.
CREATE UNLOGGED TABLE cache (
    namespace  text NOT NULL,
    key        text NOT NULL,
    value      text NOT NULL,                -- JSON
    created_at double precision NOT NULL,
    expires_at double precision NOT NULL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX cache_expires ON cache (expires_at);
