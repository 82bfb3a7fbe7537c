DROP INDEX playlists_source;
ALTER TABLE playlists DROP COLUMN folder_id;
ALTER TABLE playlists DROP COLUMN source_path;
