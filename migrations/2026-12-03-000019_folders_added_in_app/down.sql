ALTER TABLE music_folders DROP COLUMN added_in_app;
