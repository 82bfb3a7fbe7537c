-- Music folders an admin added in the web app (or the native API), kept across restarts beside
-- the ones the configuration names. Removing one clears the flag: the folder is then disabled
-- like any folder no longer configured, its tracks kept (hidden) with the user data on them.
ALTER TABLE music_folders ADD COLUMN added_in_app BOOLEAN NOT NULL DEFAULT 0;
