-- Playlists imported from .m3u/.m3u8 files in the music folders: the file they come from (read
-- only through the API; the scan keeps them in step with the file) and its music folder, so a
-- user limited to some folders sees only the playlists of those.
ALTER TABLE playlists ADD COLUMN source_path TEXT;
ALTER TABLE playlists ADD COLUMN folder_id INTEGER;
CREATE UNIQUE INDEX playlists_source ON playlists(source_path) WHERE source_path IS NOT NULL;
