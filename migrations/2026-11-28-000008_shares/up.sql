-- Shares: a public link to some songs that works without a login until it expires. User data:
-- entries name tracks without a foreign key, so no scan or purge touches a share.
CREATE TABLE shares (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The secret in the public URL (random, unguessable); the id is only for the API.
    token TEXT NOT NULL UNIQUE,
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    description TEXT,
    created_at BIGINT NOT NULL,
    -- Seconds; NULL never expires.
    expires_at BIGINT,
    last_visited_at BIGINT,
    visit_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX shares_owner ON shares(owner_id);

CREATE TABLE share_entries (
    share_id INTEGER NOT NULL REFERENCES shares(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    track_id BIGINT NOT NULL,
    PRIMARY KEY (share_id, position)
);
