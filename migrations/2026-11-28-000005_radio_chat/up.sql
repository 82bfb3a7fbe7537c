-- Internet radio stations (shared by the household, managed by admins) and the household chat.
CREATE TABLE radio_stations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    stream_url TEXT NOT NULL,
    homepage_url TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    message TEXT NOT NULL,
    -- milliseconds, as the protocol counts
    created_ms BIGINT NOT NULL
);
CREATE INDEX chat_messages_time ON chat_messages(created_ms);
