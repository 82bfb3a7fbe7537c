DROP INDEX track_genres_by_track;
DROP INDEX track_artists_by_track;
