-- What each track sounds like (issue 8): its sound summary, made once by the background
-- analysis, for the file as it was (size and mtime), or why it could not be made.
CREATE TABLE track_sounds (
    track_id INTEGER PRIMARY KEY NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    -- The analysis that made it: a new one redoes older rows.
    version INTEGER NOT NULL,
    size BIGINT NOT NULL,
    mtime BIGINT NOT NULL,
    -- JSON array of numbers (reco::sound::Features::to_vec), or NULL when `error` says why not.
    features TEXT,
    error TEXT,
    analysed_at BIGINT NOT NULL
);
