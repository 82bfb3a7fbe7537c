DROP TABLE players;
ALTER TABLE users DROP COLUMN transcode_format;
