-- getAlbumList2 pages (50 albums) walk one of these in order and stop, instead of reading and
-- sorting every album: the expressions match the ORDER BY of each list type exactly.
CREATE INDEX albums_by_name ON albums(COALESCE(sort_name, name) COLLATE NOCASE, id);
CREATE INDEX albums_by_artist ON albums(COALESCE(artist_sort, artist_display) COLLATE NOCASE, year, id);
CREATE INDEX albums_by_created ON albums(created_at, id);
CREATE INDEX albums_by_year ON albums(year, id);
-- Random picks read ids from here, not whole album rows.
CREATE INDEX albums_present ON albums(track_count, id, folder_id);
