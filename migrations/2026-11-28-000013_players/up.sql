-- Every distinct client a user streams with (Subsonic's `c`, "web" for the web app), with its own
-- transcoding choice, as Navidrome keeps them; and a user-wide default format.
CREATE TABLE players (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client TEXT NOT NULL,
    user_agent TEXT NOT NULL DEFAULT '',
    ip TEXT NOT NULL DEFAULT '',
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    -- NULL: the user's default; 'raw': never transcode; else a format (mp3, opus, ogg, flac, wav).
    transcode_format TEXT,
    -- kbit/s; 0: none.
    max_bit_rate INTEGER NOT NULL DEFAULT 0,
    UNIQUE (user_id, client)
);
ALTER TABLE users ADD COLUMN transcode_format TEXT;
