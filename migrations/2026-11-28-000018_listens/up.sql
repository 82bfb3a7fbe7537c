-- Every time someone played a song (issue 8), for recommendations: from scrobbles, finished
-- streams and the household queue. A skip is a song left before half of it (or 4 minutes) had
-- played. User data: a rescan never touches it, and it outlives the track row (no foreign key
-- to tracks), so history survives a file that is moved away and comes back.
CREATE TABLE listens (
    id INTEGER PRIMARY KEY NOT NULL,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    track_id BIGINT NOT NULL,
    -- When it started playing (Unix seconds).
    at BIGINT NOT NULL,
    played_ms BIGINT NOT NULL,
    skipped BOOLEAN NOT NULL,
    -- scrobble, stream or queue.
    source TEXT NOT NULL
);
CREATE INDEX listens_by_user ON listens (user_id, at);
CREATE INDEX listens_by_track ON listens (track_id, at);
