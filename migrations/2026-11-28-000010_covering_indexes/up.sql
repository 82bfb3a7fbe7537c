-- The credits and genres of a page of songs (500 at a time, or a 1,000-song playlist) come from
-- these indexes alone, without a second lookup into the table for every row.
CREATE INDEX track_artists_by_track ON track_artists(track_id, role, position, artist_id, sub_role);
CREATE INDEX track_genres_by_track ON track_genres(track_id, position, genre_id);
