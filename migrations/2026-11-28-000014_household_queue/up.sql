-- The household queue (issue 6): one row per queue (today only 'home'), its entries in play
-- order. Entries carry their song's summary as JSON, so the queue reads back without the
-- library (and survives a song's removal until someone takes it out).
CREATE TABLE household_queues (
    name TEXT PRIMARY KEY NOT NULL,
    version BIGINT NOT NULL,
    current_entry TEXT,
    position_ms BIGINT NOT NULL DEFAULT 0,
    playing BOOLEAN NOT NULL DEFAULT 0,
    repeat TEXT NOT NULL DEFAULT 'off',
    shuffle BOOLEAN NOT NULL DEFAULT 0,
    volume INTEGER NOT NULL DEFAULT 100,
    output TEXT,
    next_entry BIGINT NOT NULL DEFAULT 1,
    updated_at BIGINT NOT NULL
);
CREATE TABLE household_queue_entries (
    queue TEXT NOT NULL REFERENCES household_queues(name) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    entry_id TEXT NOT NULL,
    song TEXT NOT NULL,
    -- The entry's place before shuffling, while shuffle is on.
    unshuffled_position INTEGER,
    PRIMARY KEY (queue, position)
);
