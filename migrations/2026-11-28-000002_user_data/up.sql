-- User data: what people made, never what a scan can rebuild. These tables refer to library items by
-- id with no foreign key on purpose: a rescan, a missing disk or the purge of long-missing tracks must
-- never cascade into stars, plays or playlists. Only a user (or deleting that user) removes them.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    -- nonce || ChaCha20-Poly1305 ciphertext, key in <data>/secret.key (token auth needs the password)
    password_enc BLOB NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT 0,
    email TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- item_kind: 'track', 'album', 'artist' or 'directory'
CREATE TABLE annotations (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    item_kind TEXT NOT NULL,
    item_id INTEGER NOT NULL,
    starred_at BIGINT,
    rating INTEGER,
    play_count INTEGER NOT NULL DEFAULT 0,
    last_played_at BIGINT,
    PRIMARY KEY (user_id, item_kind, item_id)
);
CREATE INDEX annotations_item ON annotations(item_kind, item_id);

CREATE TABLE playlists (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    comment TEXT,
    public BOOLEAN NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE playlist_entries (
    playlist_id INTEGER NOT NULL REFERENCES playlists(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    track_id INTEGER NOT NULL,
    PRIMARY KEY (playlist_id, position)
);
CREATE INDEX playlist_entries_track ON playlist_entries(track_id);

CREATE TABLE bookmarks (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    track_id INTEGER NOT NULL,
    position_ms BIGINT NOT NULL,
    comment TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, track_id)
);

CREATE TABLE play_queues (
    user_id INTEGER PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- index into play_queue_entries, so that one song queued twice stays two entries
    current_index INTEGER,
    position_ms BIGINT NOT NULL DEFAULT 0,
    changed_by TEXT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE play_queue_entries (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    track_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, position)
);
