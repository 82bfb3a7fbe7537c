-- Scrobbling (issue 10): each user's links to ListenBrainz and Last.fm, their on/off switch, and
-- the outbox of listens on their way to those services.

CREATE TABLE scrobble_links (
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    -- listenbrainz or lastfm.
    service TEXT NOT NULL,
    -- The ListenBrainz user token or the Last.fm session key, sealed with secret.key
    -- (nonce + ChaCha20-Poly1305) as passwords are: never stored in plain text.
    secret BLOB NOT NULL,
    -- The account's name on the service, as it told us.
    account TEXT NOT NULL,
    linked_at BIGINT NOT NULL,
    -- Set when the service refused the token or session key: nothing more is sent (the
    -- listens wait in the outbox) until the user links again.
    needs_attention TEXT,
    -- The last delivery problem and when; cleared by the next delivery that works.
    last_error TEXT,
    last_error_at BIGINT,
    last_sent_at BIGINT,
    PRIMARY KEY (user_id, service)
);

-- A user's switch; no row means on.
CREATE TABLE scrobble_prefs (
    user_id BIGINT PRIMARY KEY NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    enabled BOOLEAN NOT NULL
);

-- One row per listen and service, written in the transaction that counts the play and marked
-- sent only once the service accepted it (sent rows are kept 30 days, so the same listen
-- reported again, a client retrying, is not sent twice). The song's details are copied in, so
-- a listen still goes out as it was heard if the file is renamed or removed meanwhile.
CREATE TABLE scrobble_outbox (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    service TEXT NOT NULL,
    track_id BIGINT NOT NULL,
    -- When it started playing (Unix seconds).
    listened_at BIGINT NOT NULL,
    artist TEXT NOT NULL,
    track TEXT NOT NULL,
    album TEXT NOT NULL,
    album_artist TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    track_number INTEGER,
    recording_mbid TEXT,
    release_mbid TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    -- Not before this (Unix seconds): the back-off after a failure, or the service's own wait.
    next_try_at BIGINT NOT NULL DEFAULT 0,
    -- Set when the service refused this listen itself (not the link): kept, never resent.
    refused TEXT,
    -- When the service accepted it.
    sent_at BIGINT,
    UNIQUE (user_id, service, track_id, listened_at)
);
CREATE INDEX scrobble_outbox_due ON scrobble_outbox (next_try_at);
