-- Podcasts: the channels the household subscribes to (by feed URL) and their episodes. Shared by
-- the household like radio stations; changes need the podcast role. Episodes are kept by the
-- feed's guid (else the enclosure URL), so a refresh adds new ones and never duplicates or drops
-- old ones; a deleted episode stays as a row marked `deleted`, so the next refresh does not
-- bring it back. Downloaded files live in the podcast folder, named from the episode's id.
CREATE TABLE podcast_channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL UNIQUE,
    title TEXT,
    description TEXT,
    image_url TEXT,
    -- new (never refreshed), downloading (refreshing), completed, error
    status TEXT NOT NULL DEFAULT 'new',
    error_message TEXT,
    refreshed_at BIGINT,
    created_at BIGINT NOT NULL
);

CREATE TABLE podcast_episodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id INTEGER NOT NULL REFERENCES podcast_channels(id) ON DELETE CASCADE,
    -- the feed's guid, else the enclosure URL
    guid TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT NOT NULL,
    description TEXT,
    -- seconds since the epoch
    published_at BIGINT,
    duration_s BIGINT,
    -- what the feed says of the enclosure
    content_type TEXT,
    feed_size BIGINT,
    -- new, downloading, completed, error, deleted, skipped
    status TEXT NOT NULL DEFAULT 'new',
    error_message TEXT,
    -- the downloaded file's name in the podcast folder (made from the id, never from the feed)
    file_name TEXT,
    size BIGINT,
    suffix TEXT,
    bit_rate INTEGER,
    created_at BIGINT NOT NULL,
    UNIQUE (channel_id, guid)
);
CREATE INDEX podcast_episodes_newest ON podcast_episodes(published_at DESC);
