DROP TABLE track_sounds;
