-- Subsonic roles of each user (besides admin, which is is_admin) and a bit rate cap for the
-- streaming to come. Roles are stored as a comma-separated list of Subsonic role names.
ALTER TABLE users ADD COLUMN roles TEXT NOT NULL
    DEFAULT 'settings,download,playlist,coverArt,comment,podcast,stream,share';
ALTER TABLE users ADD COLUMN max_bit_rate INTEGER NOT NULL DEFAULT 0;
