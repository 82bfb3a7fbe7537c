-- The music library: everything here is rebuilt from the files by a scan.
-- Ids are AUTOINCREMENT so that an id is never reused: user data (stars, plays, playlists) refers to
-- tracks, albums and artists by id, and must never end up pointing at a different song.

CREATE TABLE music_folders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    enabled BOOLEAN NOT NULL DEFAULT 1,
    last_scan_at BIGINT
);

CREATE TABLE directories (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    folder_id INTEGER NOT NULL REFERENCES music_folders(id),
    -- no foreign key on parent_id: directories are purged in any order, and browsing tolerates a gap
    parent_id INTEGER,
    path TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    mtime BIGINT NOT NULL DEFAULT 0,
    cover_path TEXT,
    artist_image_path TEXT,
    missing_since BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX directories_parent ON directories(parent_id);
CREATE INDEX directories_folder ON directories(folder_id);

CREATE TABLE artists (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- identity: the case- and accent-folded name
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    sort_name TEXT,
    search_name TEXT NOT NULL,
    mbid TEXT,
    image_path TEXT,
    album_count INTEGER NOT NULL DEFAULT 0,
    track_count INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE albums (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- identity: folded album artist (or the compilation marker) + folded album title
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    sort_name TEXT,
    search_name TEXT NOT NULL,
    artist_display TEXT NOT NULL,
    artist_sort TEXT,
    year INTEGER,
    date TEXT,
    original_date TEXT,
    release_date TEXT,
    compilation BOOLEAN NOT NULL DEFAULT 0,
    release_types TEXT,
    label TEXT,
    explicit BOOLEAN,
    mbz_album_id TEXT,
    mbz_release_group_id TEXT,
    mbz_album_artist_id TEXT,
    cover_path TEXT,
    cover_track_id INTEGER,
    folder_id INTEGER,
    track_count INTEGER NOT NULL DEFAULT 0,
    disc_count INTEGER NOT NULL DEFAULT 0,
    duration_ms BIGINT NOT NULL DEFAULT 0,
    size BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE genres (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    track_count INTEGER NOT NULL DEFAULT 0,
    album_count INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tracks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    folder_id INTEGER NOT NULL REFERENCES music_folders(id),
    directory_id INTEGER NOT NULL,
    album_id INTEGER NOT NULL REFERENCES albums(id),
    path TEXT NOT NULL UNIQUE,
    size BIGINT NOT NULL,
    mtime BIGINT NOT NULL,
    suffix TEXT NOT NULL,
    content_type TEXT NOT NULL,
    format TEXT NOT NULL,
    duration_ms BIGINT NOT NULL,
    bit_rate INTEGER,
    sample_rate INTEGER,
    bit_depth INTEGER,
    channels INTEGER,
    title TEXT NOT NULL,
    sort_title TEXT,
    artist_display TEXT NOT NULL,
    artist_sort TEXT,
    album_name TEXT NOT NULL,
    album_sort TEXT,
    album_artist_display TEXT NOT NULL,
    album_artist_sort TEXT,
    genre_display TEXT,
    moods TEXT,
    track_number INTEGER,
    track_total INTEGER,
    disc_number INTEGER,
    disc_total INTEGER,
    disc_subtitle TEXT,
    year INTEGER,
    date TEXT,
    original_date TEXT,
    release_date TEXT,
    bpm INTEGER,
    comment TEXT,
    isrc TEXT,
    label TEXT,
    release_types TEXT,
    compilation BOOLEAN NOT NULL DEFAULT 0,
    explicit BOOLEAN,
    rg_track_gain REAL,
    rg_track_peak REAL,
    rg_album_gain REAL,
    rg_album_peak REAL,
    mbz_recording_id TEXT,
    mbz_release_track_id TEXT,
    mbz_album_id TEXT,
    mbz_artist_ids TEXT,
    mbz_album_artist_ids TEXT,
    mbz_release_group_id TEXT,
    lyrics TEXT,
    lrc_path TEXT,
    has_cover BOOLEAN NOT NULL DEFAULT 0,
    -- size + duration + main tags, to recognise a moved or renamed file as the same recording
    match_key TEXT NOT NULL,
    missing_since BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tracks_album ON tracks(album_id);
CREATE INDEX tracks_directory ON tracks(directory_id);
CREATE INDEX tracks_folder ON tracks(folder_id);
CREATE INDEX tracks_missing ON tracks(missing_since) WHERE missing_since IS NOT NULL;
CREATE INDEX tracks_recording ON tracks(mbz_recording_id) WHERE mbz_recording_id IS NOT NULL;
CREATE INDEX tracks_match_key ON tracks(match_key);

-- Credits: several artists per track, each with a role (artist, albumartist, composer, conductor,
-- lyricist, arranger, producer, remixer, performer, mixer, engineer, director, writer).
CREATE TABLE track_artists (
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    artist_id INTEGER NOT NULL REFERENCES artists(id),
    role TEXT NOT NULL,
    sub_role TEXT,
    position INTEGER NOT NULL,
    PRIMARY KEY (track_id, role, position)
);
CREATE INDEX track_artists_artist ON track_artists(artist_id, role);

CREATE TABLE album_artists (
    album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
    artist_id INTEGER NOT NULL REFERENCES artists(id),
    position INTEGER NOT NULL,
    PRIMARY KEY (album_id, position)
);
CREATE INDEX album_artists_artist ON album_artists(artist_id);

CREATE TABLE track_genres (
    track_id INTEGER NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    genre_id INTEGER NOT NULL REFERENCES genres(id),
    position INTEGER NOT NULL,
    PRIMARY KEY (track_id, position)
);
CREATE INDEX track_genres_genre ON track_genres(genre_id);

CREATE TABLE album_genres (
    album_id INTEGER NOT NULL REFERENCES albums(id) ON DELETE CASCADE,
    genre_id INTEGER NOT NULL REFERENCES genres(id),
    position INTEGER NOT NULL,
    PRIMARY KEY (album_id, position)
);
CREATE INDEX album_genres_genre ON album_genres(genre_id);

-- Files the scanner could not read (kind 'error': not in the library) or read with a problem it
-- worked around (kind 'warning'). size/mtime let a rescan skip an unchanged broken file.
CREATE TABLE scan_errors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    size BIGINT,
    mtime BIGINT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);

CREATE TABLE scan_state (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Full-text search, case- and accent-insensitive ("beyonce" finds "Beyoncé"), with prefixes for
-- search-as-you-type. The FTS tables hold their own copy of the text, keyed by the item's id, and
-- are filled in bulk by the scanner (one statement per batch): a per-row trigger would make FTS5
-- flush a tiny segment for every inserted track, which costs more than the rest of the insert.
-- Only deletions (purges, rare) go through triggers.
CREATE VIRTUAL TABLE tracks_fts USING fts5(
    title, artist, album, tokenize="unicode61 remove_diacritics 2", prefix='2 3'
);
CREATE TRIGGER tracks_fts_delete AFTER DELETE ON tracks BEGIN
    DELETE FROM tracks_fts WHERE rowid = old.id;
END;

CREATE VIRTUAL TABLE albums_fts USING fts5(
    name, artist, tokenize="unicode61 remove_diacritics 2", prefix='2 3'
);
CREATE TRIGGER albums_fts_delete AFTER DELETE ON albums BEGIN
    DELETE FROM albums_fts WHERE rowid = old.id;
END;

CREATE VIRTUAL TABLE artists_fts USING fts5(
    name, tokenize="unicode61 remove_diacritics 2", prefix='2 3'
);
CREATE TRIGGER artists_fts_delete AFTER DELETE ON artists BEGIN
    DELETE FROM artists_fts WHERE rowid = old.id;
END;
